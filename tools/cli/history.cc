#include "tools/cli/history.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/fetch.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::cli {

using segmenter::BucketIndex;
using segmenter::BucketStart;

std::vector<Span> Cover(const v1::Manifest& m, int64_t from_ms, int64_t to_ms,
                        bool use_rollups) {
  const int64_t d = m.config().bucket_ms();
  const int64_t r = m.config().rollup_ms();
  std::vector<Span> out;
  if (d <= 0) return out;
  from_ms = std::max(from_ms, m.opened_ms());
  if (to_ms <= from_ms) return out;
  const int64_t end = BucketStart(BucketIndex(to_ms - 1, d) + 1, d);
  int64_t t = BucketStart(BucketIndex(from_ms, d), d);
  const bool rollups = use_rollups && r > d && r % d == 0;
  while (t < end) {
    if (rollups && t % r == 0 && t + r <= end) {
      out.push_back({r, t / r});
      t += r;
    } else {
      out.push_back({d, t / d});
      t += d;
    }
  }
  return out;
}

absl::StatusOr<FetchedSegment> FetchSpan(const std::string& base, const std::string& room,
                                         const Span& s,
                                         std::chrono::steady_clock::time_point deadline) {
  FetchedSegment out;
  out.path = segmenter::SegmentPath(room, s.d, s.index);
  auto raw = client::FetchClosed(base + out.path, deadline);
  if (!raw.ok()) return raw.status();
  out.raw = *std::move(raw);
  if (!out.segment.ParseFromString(out.raw.body)) {
    return absl::DataLossError(absl::StrCat(out.path, ": not an action segment"));
  }
  return out;
}

}  // namespace roomcast::cli
