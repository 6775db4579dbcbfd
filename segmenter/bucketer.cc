#include "segmenter/bucketer.h"

#include "absl/strings/str_cat.h"
#include "segmenter/naming.h"

namespace roomcast::segmenter {

absl::Status ValidateBucketMs(int64_t d) {
  if (d < kMinBucketMs || d > kMaxBucketMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket_ms must be ", kMinBucketMs, "..", kMaxBucketMs, ", got ", d));
  }
  return absl::OkStatus();
}

absl::Status ValidateRollupMs(int64_t d, int64_t r) {
  if (r < d || r > kMaxRollupMs || r % d != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rollup_ms must be a multiple of bucket_ms ", d, " up to ",
        kMaxRollupMs, ", got ", r));
  }
  return absl::OkStatus();
}

absl::Status Bucketer::Add(v1::Message m) {
  if (m.ts_ms() < watermark_ms_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "message at ", m.ts_ms(), " is behind the watermark ", watermark_ms_));
  }
  if (m.ts_ms() < last_ts_ || m.seq() <= last_seq_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "message seq ", m.seq(), " ts ", m.ts_ms(), " goes back (last seq ",
        last_seq_, " ts ", last_ts_, ")"));
  }
  last_ts_ = m.ts_ms();
  last_seq_ = m.seq();
  const int64_t k = BucketIndex(m.ts_ms(), bucket_ms_);
  if (open_.empty() || open_.back().index != k) open_.push_back({k, {}});
  open_.back().messages.push_back(std::move(m));
  return absl::OkStatus();
}

std::vector<ClosedBucket> Bucketer::Close(int64_t watermark_ms) {
  std::vector<ClosedBucket> closed;
  if (watermark_ms <= watermark_ms_) return closed;
  watermark_ms_ = watermark_ms;
  size_t n = 0;
  while (n < open_.size() && BucketEnd(open_[n].index, bucket_ms_) <= watermark_ms) {
    closed.push_back(std::move(open_[n]));
    ++n;
  }
  open_.erase(open_.begin(), open_.begin() + static_cast<std::ptrdiff_t>(n));
  return closed;
}

size_t Bucketer::open_messages() const {
  size_t n = 0;
  for (const auto& b : open_) n += b.messages.size();
  return n;
}

}  // namespace roomcast::segmenter
