// Time buckets (DESIGN §3) and the per-room bucketer.
//
// Bucket k of duration D covers unix time [k*D, (k+1)*D). As in Shaka
// Packager's consistent chunking, a boundary depends only on the timestamp, so
// the publisher, the origin and every client compute the same bucket from a
// time without talking to each other.
//
// The Bucketer collects a room's actions into open buckets and hands them out
// once the watermark passes their end:
//
//   Bucketer b(/*bucket_ms=*/1000);
//   b.Add(msg);                           // msg.ts_ms() decides the bucket
//   for (ClosedBucket& c : b.Close(wm))   // non-empty buckets ending <= wm
//     Upload(BuildSegment(..., std::move(c.messages)));
#ifndef ROOMCAST_SEGMENTER_BUCKETER_H_
#define ROOMCAST_SEGMENTER_BUCKETER_H_

#include <cstdint>
#include <algorithm>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "roomcast/v1/message.pb.h"
#include "segmenter/checkpoint.pb.h"

namespace roomcast::segmenter {

// The end of time for roomcast: 9999-12-31T23:59:59.999Z in unix ms. Every
// bucket a path can name lies before it (naming.h refuses the rest), so
// BucketEnd never overflows for a parsed bucket.
inline constexpr int64_t kMaxTimeMs = 253402300799999;

// floor(ts_ms / d), also for negative times.
constexpr int64_t BucketIndex(int64_t ts_ms, int64_t d) {
  return ts_ms >= 0 ? ts_ms / d : -((-ts_ms + d - 1) / d);
}
constexpr int64_t BucketStart(int64_t k, int64_t d) { return k * d; }
constexpr int64_t BucketEnd(int64_t k, int64_t d) { return (k + 1) * d; }

// kInvalidArgument unless 100 <= d <= 60000.
absl::Status ValidateBucketMs(int64_t d);
// kInvalidArgument unless r is a multiple of d and d <= r <= 3600000.
absl::Status ValidateRollupMs(int64_t d, int64_t r);

// Keeps a room's receive times monotonic, and never earlier than the
// watermark, so a message is never late for its bucket.
class MonotonicStamper {
 public:
  int64_t Stamp(int64_t now_ms, int64_t floor_ms) {
    last_ = std::max({last_, now_ms, floor_ms});
    return last_;
  }
  int64_t last() const { return last_; }

 private:
  int64_t last_ = std::numeric_limits<int64_t>::min();
};

struct ClosedBucket {
  int64_t index = 0;
  std::vector<v1::Message> messages;  // in seq order
};

class Bucketer {
 public:
  explicit Bucketer(int64_t bucket_ms) : bucket_ms_(bucket_ms) {}

  // Adds an action, or a notice (seq 0, segmenter/messages.h IsNotice),
  // which goes by time alone: one behind the room's latest time or the
  // watermark rides at that time. kFailedPrecondition if an action's bucket
  // is already closed or its ts/seq go backwards (the caller stamps with
  // MonotonicStamper); kInvalidArgument for seq 0 on an action or a seq on
  // a notice.
  absl::Status Add(v1::Message m);

  // Closes every bucket that ends at or before watermark_ms and returns the
  // non-empty ones, oldest first. The watermark never moves back.
  std::vector<ClosedBucket> Close(int64_t watermark_ms);

  int64_t bucket_ms() const { return bucket_ms_; }
  int64_t watermark_ms() const { return watermark_ms_; }
  size_t open_messages() const;
  // The action `seq` while its bucket is open; null once it is closed (or
  // if no such action was added, or seq is 0).
  const v1::Message* FindOpen(uint64_t seq) const;
  // Open bucket `k`'s messages, in seq order, tombstones included; null if
  // `k` is not open or holds nothing. Valid until the next non-const call.
  const std::vector<v1::Message>* OpenMessages(int64_t k) const;
  // The indexes of the open buckets holding messages, ascending.
  std::vector<int64_t> OpenIndexes() const;
  // A moderator's retraction before publication (DESIGN §11): the open
  // message `seq` keeps only its seq and ts_ms, a tombstone BuildSegment
  // lists as retracted, so its content never reaches a segment and seq
  // stays contiguous. False if `seq` is not open.
  bool Retract(uint64_t seq);

  // Everything above as data (checkpoint.proto), and back: Restore takes
  // only what a Bucketer of this bucket_ms could have made (open buckets
  // after the watermark, ascending, each message in its bucket, seq and time
  // never going back); kInvalidArgument otherwise, leaving this unchanged.
  BucketerCheckpoint Checkpoint() const;
  absl::Status Restore(const BucketerCheckpoint& c);

 private:
  // Adds one message of a checkpoint's bucket `k`, checked.
  absl::Status RestoreMessage(int64_t k, const v1::Message& m);

  int64_t bucket_ms_;
  int64_t watermark_ms_ = std::numeric_limits<int64_t>::min();
  uint64_t last_seq_ = 0;
  int64_t last_ts_ = std::numeric_limits<int64_t>::min();
  // Ascending index; times are monotonic, so usually one or two entries. A
  // vector, not a deque: an empty std::deque allocates ~570 bytes, which
  // 100,000 idle rooms would pay (DESIGN §9: <= 2 KB per idle room).
  std::vector<ClosedBucket> open_;
};

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_BUCKETER_H_
