// One room's live-push progress (DESIGN §10, contract §C/§D): per open
// bucket, how many of its records the origin acknowledged, how far the
// pusher has gone through its messages, and whether the origin refused it;
// and the seqs whose retraction is on its way to the log (withheld).
//
// The records are never kept: they are re-derived from the bucket's
// messages (seq order, tombstones skipped, each through the bucket's online
// cap, then segmenter::EncodeRecord), so what is pushed is exactly the
// closed segment's `messages`, in order. That holds because a message the
// pusher has gone past is never tombstoned afterwards: a retraction of it
// is decided (under the rooms' lock) as a `retract` record instead
// (Pushed()), and a message whose retraction is in flight is not gone past
// (Withhold()).
//
// Not thread-safe: the RoomTable's mutex guards it, as the Room it is in.
//
//   RoomLive& live = room.live();
//   live.Collect(in, now_ms, &budget, &out);   // the pusher, rooms locked
//   ... POST /v1/live outside the lock ...
//   live.Acked(index, ack, end);                // rooms locked again
#ifndef ROOMCAST_PUBLISHER_INTERNAL_LIVE_STATE_H_
#define ROOMCAST_PUBLISHER_INTERNAL_LIVE_STATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "roomcast/v1/live.pb.h"
#include "roomcast/v1/message.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/cap.h"

namespace roomcast::publisher::internal {

// Appends one LiveBatch may carry (the origin's limit).
inline constexpr int kMaxLiveAppends = 4096;

// What Collect reads of a room.
struct LiveInput {
  // The open buckets holding actions, ascending: index, messages in seq
  // order (tombstones included; RoomCloser::OpenMessages).
  std::vector<std::pair<int64_t, const std::vector<v1::Message>*>> open;
  std::string room;
  uint64_t epoch = 0;
  int64_t bucket_ms = 0;
  int64_t review_delay_ms = 0;
  // The segment's cap (RoomCloser::SegmentParamsFor: limit, max_bytes).
  int64_t cap_limit = 0;
  int64_t cap_max_bytes = 0;
};

// One append handed to a batch, to match its ack.
struct LiveSent {
  int64_t index = 0;
  uint32_t end = 0;  // first + records sent
};

class RoomLive {
 public:
  // Adds to `out` one append per open bucket with something to send (from
  // what the origin acknowledged, re-derived, and every record now
  // pushable), spending at most `*budget` bytes of records (at least one
  // record per append), while `out` has fewer than kMaxLiveAppends. Returns the earliest time a message held back by
  // the review delay becomes pushable (0: none). `*more` is set if the
  // budget stopped it early.
  int64_t Collect(const LiveInput& in, int64_t now_ms, size_t* budget, bool* more,
                  v1::LiveBatch* out, std::vector<LiveSent>* sent);
  // The origin's answer to an append `sent` made. True if the bucket
  // should be pushed again at once (the origin lacks records it was sent).
  // A batch without an answer changes nothing: it goes again from `have`.
  bool Acked(const LiveSent& sent, const v1::LiveAck& ack);

  // The batch holding `sent` was surely not taken (the origin answered it
  // with an error, or it was never sent): the bucket goes back to what the
  // origin acknowledged, so its later messages count as not pushed again
  // (a retraction of one is a removal). `messages` are its bucket's.
  void NotTaken(const LiveSent& sent, const LiveInput& in,
                const std::vector<v1::Message>& messages);

  // True if the pusher may have streamed open message `seq` of bucket
  // `index` (it went past it): its retraction must be a `retract` record.
  bool Pushed(int64_t index, uint64_t seq) const;
  // `seq`'s retraction before publication is in flight: never push it (nor
  // anything after it in its bucket) until Release.
  void Withhold(uint64_t seq) { withheld_.push_back(seq); }
  void Release(uint64_t seq);

  // Buckets ending at or before `closed_through_ms` closed: their state goes.
  void Forget(int64_t closed_through_ms, int64_t bucket_ms);
  bool empty() const { return buckets_.empty() && withheld_.empty(); }

 private:
  struct Bucket {
    explicit Bucket(int64_t k, const LiveInput& in)
        : index(k), cap(std::make_unique<segmenter::OnlineCap>(in.cap_limit, in.cap_max_bytes)) {}
    int64_t index;
    uint32_t have = 0;     // records the origin acknowledged
    uint32_t sent = 0;     // records handed to pushes so far
    size_t cursor = 0;     // messages gone past (pushed, capped out, tombstones)
    uint64_t through_seq = 0;  // the last of them
    bool refused = false;  // the origin will not stream it: never again
    // Fed every message gone past, in seq order (not assignable: boxed).
    std::unique_ptr<segmenter::OnlineCap> cap;
  };
  Bucket* Find(int64_t index);
  const Bucket* Find(int64_t index) const;
  Bucket& Get(int64_t index, const LiveInput& in);
  bool Withheld(uint64_t seq) const;
  // Records [from, b.sent) again, from the bucket's messages.
  void Rederive(const LiveInput& in, const Bucket& b, const std::vector<v1::Message>& messages,
                uint32_t from, size_t* budget, v1::LiveAppend* a) const;
  // Goes past every pushable message after the cursor; the due time of the
  // first held back by the delay, or 0.
  int64_t Advance(const LiveInput& in, Bucket& b, const std::vector<v1::Message>& messages,
                  int64_t now_ms, size_t* budget, bool* more, v1::LiveAppend* a);

  std::vector<Bucket> buckets_;    // ascending index; usually one or two
  std::vector<uint64_t> withheld_;  // rare: retractions in flight
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_LIVE_STATE_H_
