// Takedown stubs (DESIGN §11): a legally removed message is replaced, in
// every stored object that holds it, by Message{seq, ts_ms, redacted{}} and
// nothing else, so seq stays contiguous and every other byte of the object
// stays as it was. The publisher renders takedowns with these functions, and
// tests check objects against them.
//
//   std::vector<uint64_t> changed = StubMessages(&segment, {12, 15});
//   // `segment` now holds stubs for 12 and 15 where it held them; `changed`
//   // says which it held (and which were not stubs already).
#ifndef ROOMCAST_SEGMENTER_TAKEDOWN_H_
#define ROOMCAST_SEGMENTER_TAKEDOWN_H_

#include <cstdint>
#include <span>
#include <vector>

#include "roomcast/v1/message.pb.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::segmenter {

// A takedown names at most this many seqs (the origin's header limit).
inline constexpr size_t kMaxTakedownSeqs = 1000;

// The stub of `m`: its seq and ts_ms, body `redacted`, nothing else.
v1::Message StubOf(const v1::Message& m);
bool IsStub(const v1::Message& m);

// Replaces each message of `segment` whose seq is in `seqs` (ascending) by
// its stub. Returns the seqs it replaced, ascending: those the segment held
// as a message that was not a stub already.
std::vector<uint64_t> StubMessages(v1::ActionSegment* segment,
                                   std::span<const uint64_t> seqs);

// Whether any message of `segment` is a stub.
bool HoldsStubs(const v1::ActionSegment& segment);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_TAKEDOWN_H_
