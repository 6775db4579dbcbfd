#include "segmenter/segment.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "segmenter/bucketer.h"
#include "segmenter/cap.h"
#include "segmenter/messages.h"

namespace roomcast::segmenter {

v1::ActionSegment EmptySegment(const std::string& room, uint64_t epoch,
                               int64_t bucket_ms, int64_t index) {
  v1::ActionSegment s;
  s.set_room(room);
  s.set_epoch(epoch);
  s.set_bucket_ms(static_cast<uint32_t>(bucket_ms));
  s.set_index(index);
  return s;
}

v1::PeerBatch EmptyPeerBatch(const std::string& room, uint64_t epoch,
                             const std::string& user, int64_t bucket_ms,
                             int64_t index) {
  v1::PeerBatch b;
  b.set_room(room);
  b.set_epoch(epoch);
  b.set_user(user);
  b.set_bucket_ms(static_cast<uint32_t>(bucket_ms));
  b.set_index(index);
  return b;
}

v1::ActionSegment BuildSegment(const SegmentParams& p,
                               std::vector<v1::Message> messages,
                               const v1::PeerHint* hint) {
  v1::ActionSegment s = EmptySegment(p.room, p.epoch, p.bucket_ms, p.index);
  // Notices (seq 0) are records, not actions: the seq range is the actions'.
  for (const v1::Message& m : messages) {
    if (m.seq() == 0) continue;
    if (s.first_seq() == 0) s.set_first_seq(m.seq());
    s.set_last_seq(m.seq());
  }
  // Online, in seq order: exactly the records a publisher admitting them
  // one by one streamed (cap.h).
  OnlineCap cap(p.limit, p.max_bytes);
  for (v1::Message& m : messages) {
    if (m.body_case() == v1::Message::BODY_NOT_SET) {
      s.add_retracted(m.seq());
    } else if (cap.Admit(m)) {
      *s.add_messages() = std::move(m);
    }
  }
  for (const auto& [type, n] : cap.dropped()) (*s.mutable_dropped())[type] = n;
  if (hint != nullptr) *s.mutable_peer_hint() = *hint;
  return s;
}

int64_t RollupWeight(const v1::ActionSegment& bucket) {
  int64_t bytes = 0;
  for (const v1::Message& m : bucket.messages()) {
    if (IsNotice(m)) continue;  // a rollup leaves them out
    bytes += static_cast<int64_t>(m.ByteSizeLong()) + 6;  // + tag and length
  }
  return bytes + 11 * static_cast<int64_t>(bucket.retracted_size());
}

absl::StatusOr<v1::ActionSegment> BuildRollup(
    int64_t rollup_ms, int64_t rollup_index,
    std::span<const v1::ActionSegment> buckets, int64_t max_bytes) {
  if (buckets.empty()) {
    return absl::InvalidArgumentError("a rollup needs at least one bucket");
  }
  const v1::ActionSegment& first = buckets.front();
  v1::ActionSegment r =
      EmptySegment(first.room(), first.epoch(), rollup_ms, rollup_index);
  const int64_t start = BucketStart(rollup_index, rollup_ms);
  const int64_t end = BucketEnd(rollup_index, rollup_ms);
  int64_t prev_index = std::numeric_limits<int64_t>::min();
  int64_t bytes = 0;
  for (const v1::ActionSegment& b : buckets) {
    const int64_t d = b.bucket_ms();
    if (b.room() != first.room() || b.epoch() != first.epoch() ||
        d != first.bucket_ms() || rollup_ms % d != 0 || b.index() <= prev_index ||
        BucketStart(b.index(), d) < start || BucketEnd(b.index(), d) > end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bucket ", b.index(), " (", d, " ms) of room '", b.room(),
          "' does not belong in rollup ", rollup_index, " (", rollup_ms, " ms)"));
    }
    prev_index = b.index();
    if (b.last_seq() == 0) continue;  // empty bucket
    if (r.last_seq() != 0 && b.first_seq() != r.last_seq() + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seq gap in rollup ", rollup_index, ": ", r.last_seq(), " then ",
          b.first_seq(), " (a non-empty bucket is missing)"));
    }
    const int64_t b_bytes = RollupWeight(b);
    if (max_bytes > 0 && r.last_seq() != 0 && bytes + b_bytes > max_bytes) {
      r.set_last_bucket(b.index() - 1);  // the rest of the window: bucket by bucket
      break;
    }
    bytes += b_bytes;
    if (r.first_seq() == 0) r.set_first_seq(b.first_seq());
    r.set_last_seq(b.last_seq());
    for (const v1::Message& m : b.messages()) {
      if (!IsNotice(m)) *r.add_messages() = m;
    }
    r.mutable_retracted()->MergeFrom(b.retracted());
    for (const auto& [type, n] : b.dropped()) (*r.mutable_dropped())[type] += n;
  }
  return r;
}

}  // namespace roomcast::segmenter
