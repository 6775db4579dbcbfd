#include "publisher/internal/live_state.h"

#include <algorithm>

#include "segmenter/live.h"

namespace roomcast::publisher::internal {
namespace {

bool Tombstone(const v1::Message& m) { return m.body_case() == v1::Message::BODY_NOT_SET; }

v1::LiveAppend NewAppend(const LiveInput& in, int64_t index, uint32_t first) {
  v1::LiveAppend a;
  a.set_room(in.room);
  a.set_epoch(in.epoch);
  a.set_bucket_ms(static_cast<uint32_t>(in.bucket_ms));
  a.set_index(index);
  a.set_first(first);
  return a;
}

// Adds `record` unless the budget is spent (an append always takes one).
bool Take(std::string record, size_t* budget, v1::LiveAppend* a) {
  if (a->records_size() > 0 && record.size() > *budget) return false;
  *budget -= std::min(*budget, record.size());
  a->add_records(std::move(record));
  return true;
}

}  // namespace

RoomLive::Bucket* RoomLive::Find(int64_t index) {
  for (Bucket& b : buckets_) {
    if (b.index == index) return &b;
  }
  return nullptr;
}

const RoomLive::Bucket* RoomLive::Find(int64_t index) const {
  for (const Bucket& b : buckets_) {
    if (b.index == index) return &b;
  }
  return nullptr;
}

RoomLive::Bucket& RoomLive::Get(int64_t index, const LiveInput& in) {
  if (Bucket* b = Find(index)) return *b;
  auto at = std::find_if(buckets_.begin(), buckets_.end(),
                         [index](const Bucket& b) { return b.index > index; });
  return *buckets_.emplace(at, index, in);
}

bool RoomLive::Withheld(uint64_t seq) const {
  return std::find(withheld_.begin(), withheld_.end(), seq) != withheld_.end();
}

void RoomLive::Release(uint64_t seq) {
  auto it = std::find(withheld_.begin(), withheld_.end(), seq);
  if (it != withheld_.end()) withheld_.erase(it);
}

bool RoomLive::Pushed(int64_t index, uint64_t seq) const {
  const Bucket* b = Find(index);
  return b != nullptr && b->cursor > 0 && seq <= b->through_seq;
}

void RoomLive::Forget(int64_t closed_through_ms, int64_t bucket_ms) {
  std::erase_if(buckets_, [&](const Bucket& b) {
    return segmenter::BucketEnd(b.index, bucket_ms) <= closed_through_ms;
  });
}

int64_t RoomLive::Collect(const LiveInput& in, int64_t now_ms, size_t* budget, bool* more,
                          v1::LiveBatch* out, std::vector<LiveSent>* sent) {
  int64_t due = 0;
  for (const auto& [index, messages] : in.open) {
    if (*budget == 0 || out->appends_size() >= kMaxLiveAppends) {
      *more = true;
      break;
    }
    Bucket& b = Get(index, in);
    if (b.refused) continue;
    const uint32_t from = std::min(b.have, b.sent);
    v1::LiveAppend a = NewAppend(in, index, from);
    if (from < b.sent) Rederive(in, b, *messages, from, budget, &a);
    // A resend cut short by the budget continues next time, from `have`.
    const bool whole = from + static_cast<uint32_t>(a.records_size()) == b.sent;
    if (whole) {
      const int64_t d = Advance(in, b, *messages, now_ms, budget, more, &a);
      if (d != 0 && (due == 0 || d < due)) due = d;
    } else {
      *more = true;
    }
    if (a.records_size() == 0) continue;
    const uint32_t end = from + static_cast<uint32_t>(a.records_size());
    if (whole) b.sent = end;
    sent->push_back({.index = index, .end = end});
    *out->add_appends() = std::move(a);
  }
  return due;
}

void RoomLive::Rederive(const LiveInput& in, const Bucket& b,
                        const std::vector<v1::Message>& messages, uint32_t from,
                        size_t* budget, v1::LiveAppend* a) const {
  segmenter::OnlineCap cap(in.cap_limit, in.cap_max_bytes);
  uint32_t n = 0;
  for (size_t i = 0; i < b.cursor && i < messages.size() && n < b.sent; ++i) {
    const v1::Message& m = messages[i];
    if (Tombstone(m) || !cap.Admit(m)) continue;
    if (n++ < from) continue;
    if (!Take(segmenter::EncodeRecord(m), budget, a)) return;
  }
}

int64_t RoomLive::Advance(const LiveInput& in, Bucket& b,
                          const std::vector<v1::Message>& messages, int64_t now_ms,
                          size_t* budget, bool* more, v1::LiveAppend* a) {
  for (; b.cursor < messages.size(); ++b.cursor) {
    const v1::Message& m = messages[b.cursor];
    if (Withheld(m.seq())) return 0;  // its release or tombstone wakes the room
    if (m.ts_ms() > now_ms - in.review_delay_ms) return m.ts_ms() + in.review_delay_ms;
    if (!Tombstone(m)) {
      std::string r = segmenter::EncodeRecord(m);
      // Over the budget: not gone past, so the cap sees it next time.
      if (a->records_size() > 0 && r.size() > *budget) {
        *more = true;
        return 0;
      }
      if (b.cap->Admit(m)) Take(std::move(r), budget, a);
    }
    if (m.seq() != 0) b.through_seq = m.seq();  // notices have none
  }
  return 0;
}

bool RoomLive::Acked(const LiveSent& sent, const v1::LiveAck& ack) {
  Bucket* b = Find(sent.index);
  if (b == nullptr) return false;  // closed meanwhile: the PUT has it
  if (ack.refused()) {
    b->refused = true;
    return false;
  }
  b->have = ack.have();
  return b->have < b->sent;
}

void RoomLive::NotTaken(const LiveSent& sent, const LiveInput& in,
                        const std::vector<v1::Message>& messages) {
  Bucket* b = Find(sent.index);
  if (b == nullptr || b->refused || b->have >= b->sent) return;
  // Replays the cap to just past the have-th record: where the pusher
  // stood when the origin last acknowledged.
  b->cap = std::make_unique<segmenter::OnlineCap>(in.cap_limit, in.cap_max_bytes);
  b->cursor = 0;
  b->through_seq = 0;
  for (uint32_t n = 0; n < b->have && b->cursor < messages.size(); ++b->cursor) {
    const v1::Message& m = messages[b->cursor];
    if (!Tombstone(m) && b->cap->Admit(m)) ++n;
    if (m.seq() != 0) b->through_seq = m.seq();
  }
  b->sent = b->have;
}

}  // namespace roomcast::publisher::internal
