#include "tools/cli/history.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "client/fetch.h"
#include "segmenter/bucketer.h"
#include "tools/cli/common.h"

namespace roomcast::cli {

using segmenter::BucketIndex;
using segmenter::BucketStart;

std::chrono::steady_clock::time_point RangeArgs::Deadline() const {
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(std::max<int64_t>(0, to - now)) + std::chrono::seconds(30);
}

RangeFlags::RangeFlags(base::FlagSet& flags) {
  flags.String("base", &args_.base, "origin or CDN URL");
  flags.String("room", &args_.room.room, "room id");
  flags.String("from", &from_, "start TIME (inclusive)");
  flags.String("to", &to_, "end TIME (exclusive)");
  for (const char* f : {"base", "room", "from", "to"}) flags.Require(f);
  edge_token_ = std::make_unique<EdgeTokenFlags>(flags);
}

absl::StatusOr<RangeArgs> RangeFlags::Resolve() const {
  RangeArgs a = args_;
  a.now = base::SystemClock().NowMs();
  ROOMCAST_ASSIGN_OR_RETURN(a.from, ParseTime(from_, a.now));
  ROOMCAST_ASSIGN_OR_RETURN(a.to, ParseTime(to_, a.now));
  if (a.to <= a.from) return absl::InvalidArgumentError("--to must be after --from");
  ROOMCAST_ASSIGN_OR_RETURN(a.room.edge_token, edge_token_->Resolve());
  return a;
}

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

absl::StatusOr<FetchedSegment> FetchSpan(const std::string& base,
                                         const client::RoomAccess& room, const Span& s,
                                         std::chrono::steady_clock::time_point deadline) {
  FetchedSegment out;
  out.path = room.SegmentPath(s.d, s.index);
  auto raw = client::FetchClosed(base + out.path, deadline, room.Headers());
  if (!raw.ok()) return raw.status();
  out.raw = *std::move(raw);
  if (!out.segment.ParseFromString(out.raw.body)) {
    return absl::DataLossError(absl::StrCat(out.path, ": not an action segment"));
  }
  return out;
}

}  // namespace roomcast::cli
