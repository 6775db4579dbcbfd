// The big-room cap (DESIGN §6, §10): a bucket keeps every high-priority
// action that fits its byte budget and a fair share of the rest, and counts
// by type what it left out.
//
// The decision is online, one record at a time in seq order, because an
// open bucket streams (DESIGN §10): a record is pushed to the origin and
// read by clients as soon as it is durable, and a streamed record cannot be
// taken back. So nothing later may change whether an earlier record was
// kept: the publisher's pusher, admitting records one by one as it pushes
// them, and BuildSegment at the bucket's close, running the same bucket
// through a fresh OnlineCap, keep exactly the same records.
//
// The fairness an online cap can give, it gives: one sender takes at most
// ceil(limit / 4) of a bucket's normal slots, so a flooding client cannot
// crowd out the room (at least four senders share every full bucket), and
// a quarter of the byte budget stays free for high-priority records
// (gifts, anchors, moderators, retractions) arriving after a flood. What it
// cannot give is a uniform sample over the bucket: early records win, since
// whether more will come is unknown when one is admitted. The decision is a
// function of the records alone, so a re-publish after a crash gives the
// same bytes.
//
//   OnlineCap cap(BucketLimit(500, 1000), kMaxObjectBytes);
//   for (const v1::Message& m : bucket)      // seq order
//     if (cap.Admit(m)) Push(EncodeRecord(m));
//   // cap.dropped(): the segment's drop counts
#ifndef ROOMCAST_SEGMENTER_CAP_H_
#define ROOMCAST_SEGMENTER_CAP_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "roomcast/v1/message.pb.h"

namespace roomcast::segmenter {

// How many actions one bucket of `bucket_ms` keeps at `cap_per_s` (at least
// 1; 0 means no cap).
int64_t BucketLimit(uint32_t cap_per_s, int64_t bucket_ms);

// What one record weighs in a segment: EncodeRecord(m).size().
int64_t RecordBytes(const v1::Message& m);

class OnlineCap {
 public:
  // `limit`: normal-priority records kept per bucket (<= 0: no limit, and no
  // per-sender share). `max_bytes`: what the kept records may weigh
  // (RecordBytes; <= 0: no budget).
  explicit OnlineCap(int64_t limit, int64_t max_bytes);

  // Whether `m`, the bucket's next record in seq order, is kept. High
  // priority: while the kept bytes stay <= max_bytes. Normal: while fewer
  // than `limit` normal ones are kept, its sender has fewer than
  // max(1, ceil(limit / 4)) kept, and the kept bytes stay <= 3/4 of
  // max_bytes. A refused one counts in dropped()[TypeName(m)].
  bool Admit(const v1::Message& m);

  const std::map<std::string, uint64_t>& dropped() const { return dropped_; }
  int64_t kept() const { return kept_; }
  int64_t kept_bytes() const { return kept_bytes_; }

 private:
  bool AdmitNormal(const v1::Message& m, int64_t bytes);

  const int64_t limit_;
  const int64_t max_bytes_;
  const int64_t per_sender_;  // max(1, ceil(limit / 4))
  int64_t kept_ = 0;
  int64_t kept_normal_ = 0;
  int64_t kept_bytes_ = 0;
  absl::flat_hash_map<std::string, int64_t> normal_by_sender_;
  std::map<std::string, uint64_t> dropped_;
};

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_CAP_H_
