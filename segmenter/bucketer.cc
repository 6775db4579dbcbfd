#include "segmenter/bucketer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "segmenter/messages.h"
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
  // A notice (seq 0) goes by time alone, among the actions at its time, and
  // is never refused for it: one stamped behind (a state set's own time may
  // be) rides at the latest time the room has reached.
  const bool notice = IsNotice(m);
  if (notice != (m.seq() == 0)) {
    return absl::InvalidArgumentError("seq 0 is for notices, and notices have seq 0");
  }
  if (notice) m.set_ts_ms(std::max({m.ts_ms(), last_ts_, watermark_ms_}));
  if (m.ts_ms() < watermark_ms_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "message at ", m.ts_ms(), " is behind the watermark ", watermark_ms_));
  }
  if (m.ts_ms() < last_ts_ || (!notice && m.seq() <= last_seq_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "message seq ", m.seq(), " ts ", m.ts_ms(), " goes back (last seq ",
        last_seq_, " ts ", last_ts_, ")"));
  }
  last_ts_ = m.ts_ms();
  if (!notice) last_seq_ = m.seq();
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

const std::vector<v1::Message>* Bucketer::OpenMessages(int64_t k) const {
  for (const ClosedBucket& b : open_) {
    if (b.index == k) return &b.messages;
  }
  return nullptr;
}

std::vector<int64_t> Bucketer::OpenIndexes() const {
  std::vector<int64_t> out;
  out.reserve(open_.size());
  for (const ClosedBucket& b : open_) out.push_back(b.index);
  return out;
}

BucketerCheckpoint Bucketer::Checkpoint() const {
  BucketerCheckpoint c;
  c.set_watermark_ms(watermark_ms_);
  c.set_last_seq(last_seq_);
  c.set_last_ts_ms(last_ts_);
  for (const ClosedBucket& b : open_) {
    OpenBucket* o = c.add_open();
    o->set_index(b.index);
    for (const v1::Message& m : b.messages) *o->add_messages() = m;
  }
  return c;
}

absl::Status Bucketer::Restore(const BucketerCheckpoint& c) {
  Bucketer b(bucket_ms_);
  b.watermark_ms_ = c.watermark_ms();
  const bool never_closed =
      b.watermark_ms_ == std::numeric_limits<int64_t>::min();
  if (!never_closed && (b.watermark_ms_ < 0 || b.watermark_ms_ > kMaxTimeMs)) {
    return absl::InvalidArgumentError("checkpoint: watermark out of range");
  }
  for (const OpenBucket& o : c.open()) {
    if (!b.open_.empty() && o.index() <= b.open_.back().index) {
      return absl::InvalidArgumentError("checkpoint: buckets out of order");
    }
    if (o.messages().empty()) {
      return absl::InvalidArgumentError("checkpoint: an empty open bucket");
    }
    for (const v1::Message& m : o.messages()) {
      ROOMCAST_RETURN_IF_ERROR(b.RestoreMessage(o.index(), m));
    }
  }
  // What the checkpoint says came last must not be before what it holds.
  if (c.last_seq() < b.last_seq_ || c.last_ts_ms() < b.last_ts_) {
    return absl::InvalidArgumentError("checkpoint: last seq or time too low");
  }
  b.last_seq_ = c.last_seq();
  b.last_ts_ = c.last_ts_ms();
  *this = std::move(b);
  return absl::OkStatus();
}

absl::Status Bucketer::RestoreMessage(int64_t k, const v1::Message& m) {
  // A message may be older than the watermark when its bucket is still
  // open: it was added before a close that stopped inside its bucket.
  if (m.ts_ms() < 0 || m.ts_ms() > kMaxTimeMs ||
      BucketIndex(m.ts_ms(), bucket_ms_) != k ||
      BucketEnd(k, bucket_ms_) <= watermark_ms_) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: seq ", m.seq(), " is not in open bucket ", k));
  }
  const bool notice = IsNotice(m);
  if (notice != (m.seq() == 0) || m.ts_ms() < last_ts_ || (!notice && m.seq() <= last_seq_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: seq ", m.seq(), " goes back"));
  }
  last_ts_ = m.ts_ms();
  if (!notice) last_seq_ = m.seq();
  if (open_.empty() || open_.back().index != k) open_.push_back({k, {}});
  open_.back().messages.push_back(m);
  return absl::OkStatus();
}

const v1::Message* Bucketer::FindOpen(uint64_t seq) const {
  if (seq == 0) return nullptr;  // notices are no one's to find
  for (const ClosedBucket& b : open_) {
    const std::vector<v1::Message>& ms = b.messages;
    // The first action at or after index i: notices (seq 0) sit among the
    // actions, whose seqs ascend, so its seq never falls as i grows and a
    // binary search over i finds the first one not below `seq`.
    auto action_from = [&](size_t i) {
      while (i < ms.size() && ms[i].seq() == 0) ++i;
      return i;
    };
    size_t lo = 0, hi = ms.size();
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      const size_t j = action_from(mid);
      if (j < hi && ms[j].seq() < seq) {
        lo = j + 1;
      } else {
        hi = mid;
      }
    }
    const size_t at = action_from(lo);
    if (at == ms.size()) continue;  // every action here is before `seq`
    return ms[at].seq() == seq ? &ms[at] : nullptr;
  }
  return nullptr;
}

bool Bucketer::Retract(uint64_t seq) {
  const v1::Message* found = FindOpen(seq);
  if (found == nullptr) return false;
  v1::Message* m = const_cast<v1::Message*>(found);
  const int64_t ts = m->ts_ms();
  m->Clear();
  m->set_seq(seq);
  m->set_ts_ms(ts);
  return true;
}

size_t Bucketer::open_messages() const {
  size_t n = 0;
  for (const auto& b : open_) n += b.messages.size();
  return n;
}

}  // namespace roomcast::segmenter
