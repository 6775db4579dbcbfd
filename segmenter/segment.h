// Action segments and rollups from closed buckets.
//
// BuildSegment turns one closed bucket's actions into its ActionSegment
// (cap applied, seq range, drop counts, peer hint); BuildRollup merges the
// closed buckets of one R-ms window into the rollup at the same URL template.
// Both are pure and deterministic: same input, same bytes.
//
//   SegmentParams p{.room = "lobby", .epoch = 1, .bucket_ms = 1000,
//                   .index = k, .limit = BucketLimit(500, 1000)};
//   v1::ActionSegment seg = BuildSegment(p, std::move(bucket.messages));
//   EncodedObject obj = Encode(seg);
#ifndef ROOMCAST_SEGMENTER_SEGMENT_H_
#define ROOMCAST_SEGMENTER_SEGMENT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::segmenter {

// What any object the publisher makes may weigh (DESIGN §15), well inside
// the origin's 16 MiB body limit: a bucket's excess is sampled into drop
// counts, a rollup stops early, a state write that would push the snapshot
// past its budget is refused.
inline constexpr int64_t kMaxObjectBytes = 4 << 20;
inline constexpr int64_t kMaxSnapshotBytes = 2 << 20;

struct SegmentParams {
  std::string room;
  uint64_t epoch = 0;
  int64_t bucket_ms = 0;
  int64_t index = 0;
  // Normal-priority actions kept per bucket (BucketLimit); <= 0: all.
  int64_t limit = 0;
  // The segment's records weigh at most this (OnlineCap, RecordBytes).
  int64_t max_bytes = kMaxObjectBytes;
};

// `messages` in seq order, all in bucket `index`. `hint` may be null. A
// message without a body is a retracted one's tombstone (Bucketer::Retract):
// listed in `retracted`, neither kept nor capped. The others go through one
// OnlineCap(p.limit, p.max_bytes) in seq order, so `messages` of the result
// are exactly the records a publisher streamed admitting them one by one.
v1::ActionSegment BuildSegment(const SegmentParams& p,
                               std::vector<v1::Message> messages,
                               const v1::PeerHint* hint = nullptr);

// The empty segment of a closed bucket with no action. The origin
// synthesizes it rather than storing it, and its bytes equal what
// BuildSegment makes of no messages.
v1::ActionSegment EmptySegment(const std::string& room, uint64_t epoch,
                               int64_t bucket_ms, int64_t index);

// The peer object of one user in a bucket, with no messages yet: what the
// origin synthesizes for a closed bucket that holds nothing for the user,
// and what the publisher fills for one that does (the same header bytes).
v1::PeerBatch EmptyPeerBatch(const std::string& room, uint64_t epoch,
                             const std::string& user, int64_t bucket_ms,
                             int64_t index);

// Merges the segments of one rollup window: `rollup_index` at `rollup_ms`.
// Every input must be a bucket segment of this room inside the window, in
// ascending index order; empty buckets may be left out. Peer hints and
// notices are not carried (peer delivery is per bucket; a reader catching
// up takes state from the manifest). A rollup whose buckets would weigh
// more than `max_bytes` holds only the buckets up to the last that fits and
// names it in `last_bucket`: readers take the window's later buckets one by
// one.
// What a bucket counts against a rollup's budget (BuildRollup's measure).
int64_t RollupWeight(const v1::ActionSegment& bucket);

absl::StatusOr<v1::ActionSegment> BuildRollup(
    int64_t rollup_ms, int64_t rollup_index,
    std::span<const v1::ActionSegment> buckets,
    int64_t max_bytes = kMaxObjectBytes);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_SEGMENT_H_
