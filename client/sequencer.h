// Exactly-once, in-order delivery of a room's actions (DESIGN §7.2).
//
// Segments carry the seq range [first_seq, last_seq] of every action of
// their bucket, kept or sampled out, and seqs have no gaps across a room's
// segments. The sequencer remembers the next seq it expects: a segment that
// starts later reveals a gap (to recover, never to skip silently), one that
// starts earlier repeats seqs that were delivered already (dropped here).
//
//   if (auto gap = seq.GapBefore(segment)) Recover(*gap);
//   for (const v1::Message* m : seq.Take(segment, join_ms)) Deliver(*m);
#ifndef ROOMCAST_CLIENT_SEQUENCER_H_
#define ROOMCAST_CLIENT_SEQUENCER_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "roomcast/v1/segment.pb.h"

namespace roomcast::client {

class Sequencer {
 public:
  struct Gap {
    uint64_t first = 0;  // inclusive
    uint64_t last = 0;
  };

  // The seqs missing between what was taken and `s`, if any. Never a gap
  // before the first segment (a client joins mid-room).
  std::optional<Gap> GapBefore(const v1::ActionSegment& s) const;

  // The messages of `s` not taken before, in seq order, leaving out those
  // stamped before `min_ts_ms` (they still count as seen) and notices (seq
  // 0: not actions, DESIGN §10). Moves the cursor past s.last_seq.
  std::vector<const v1::Message*> Take(
      const v1::ActionSegment& s,
      int64_t min_ts_ms = std::numeric_limits<int64_t>::min());

  // One record taken before its segment is complete (a streamed bucket):
  // the next seq expected becomes seq + 1. The caller checked the order.
  void TakeOne(uint64_t seq) { next_ = seq + 1; }

  // Gives up on a gap: the next seq expected becomes `next`.
  void SkipTo(uint64_t next) { next_ = next; }
  void Reset() { next_.reset(); }

  // The next seq expected; nullopt before the first non-empty segment.
  std::optional<uint64_t> next() const { return next_; }
  // Segments that repeated seqs already taken.
  uint64_t overlaps() const { return overlaps_; }

 private:
  std::optional<uint64_t> next_;
  uint64_t overlaps_ = 0;
};

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_SEQUENCER_H_
