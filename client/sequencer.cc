#include "client/sequencer.h"

namespace roomcast::client {

std::optional<Sequencer::Gap> Sequencer::GapBefore(const v1::ActionSegment& s) const {
  if (!next_ || s.last_seq() == 0 || s.first_seq() <= *next_) return std::nullopt;
  return Gap{*next_, s.first_seq() - 1};
}

std::vector<const v1::Message*> Sequencer::Take(const v1::ActionSegment& s,
                                                int64_t min_ts_ms) {
  std::vector<const v1::Message*> out;
  if (s.last_seq() == 0) return out;
  if (!next_) next_ = s.first_seq();
  if (s.last_seq() < *next_) {
    ++overlaps_;  // every seq of it was taken already
    return out;
  }
  if (s.first_seq() < *next_) ++overlaps_;
  uint64_t floor = *next_;
  for (const v1::Message& m : s.messages()) {
    // In seq order on the wire; anything else is dropped, not reordered.
    // seq 0: a notice, not an action (DESIGN §10).
    if (m.seq() == 0 || m.seq() < floor || m.seq() > s.last_seq()) continue;
    floor = m.seq() + 1;
    if (m.ts_ms() >= min_ts_ms) out.push_back(&m);
  }
  next_ = s.last_seq() + 1;
  return out;
}

}  // namespace roomcast::client
