// Room's part of the live push (DESIGN §10): what the pusher reads of its
// open buckets, and the push state (live_state.h) it keeps while any.
#include "publisher/internal/room.h"

namespace roomcast::publisher::internal {

RoomLive& Room::live() {
  if (live_ == nullptr) live_ = std::make_unique<RoomLive>();
  return *live_;
}

void Room::ReleaseLive(const google::protobuf::RepeatedField<uint64_t>& seqs) {
  if (live_ == nullptr) return;
  for (uint64_t seq : seqs) live_->Release(seq);
  if (live_->empty()) live_.reset();
}

LiveInput Room::LiveInputs() const {
  LiveInput in;
  const std::vector<int64_t> open = closer_.OpenBuckets();
  if (open.empty()) return in;
  const segmenter::SegmentParams p = closer_.SegmentParamsFor(open.front());
  in = {.room = name(),
        .epoch = epoch(),
        .bucket_ms = p.bucket_ms,
        .review_delay_ms = mod_ ? mod_->settings().review_delay_ms() : 0,
        .cap_limit = p.limit,
        .cap_max_bytes = p.max_bytes};
  for (int64_t k : open) {
    if (const std::vector<v1::Message>* m = closer_.OpenMessages(k)) in.open.emplace_back(k, m);
  }
  return in;
}

int64_t Room::CollectLive(int64_t now_ms, size_t* budget, bool* more, v1::LiveBatch* out,
                          std::vector<LiveSent>* sent) {
  // A stalled room closes nothing (its buckets may never be served); a
  // room with nothing open has nothing to push and keeps no state.
  if (stalled()) return 0;
  const LiveInput in = LiveInputs();
  if (in.open.empty()) return 0;
  return live().Collect(in, now_ms, budget, more, out, sent);
}

void Room::LiveNotTaken(const LiveSent& sent) {
  if (live_ == nullptr) return;
  const LiveInput in = LiveInputs();
  for (const auto& [k, messages] : in.open) {
    if (k == sent.index) live_->NotTaken(sent, in, *messages);
  }
}

bool Room::LiveAcked(const LiveSent& sent, const v1::LiveAck& ack) {
  return live_ != nullptr && live_->Acked(sent, ack);
}

bool Room::LivePushed(uint64_t seq) const {
  const v1::Message* m = closer_.FindOpen(seq);
  return m != nullptr && live_ != nullptr &&
         live_->Pushed(segmenter::BucketIndex(m->ts_ms(), config().bucket_ms()), seq);
}

}  // namespace roomcast::publisher::internal
