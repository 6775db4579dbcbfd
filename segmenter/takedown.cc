#include "segmenter/takedown.h"

#include <algorithm>

namespace roomcast::segmenter {

v1::Message StubOf(const v1::Message& m) {
  v1::Message stub;
  stub.set_seq(m.seq());
  stub.set_ts_ms(m.ts_ms());
  stub.mutable_redacted();
  return stub;
}

bool IsStub(const v1::Message& m) { return m.has_redacted(); }

std::vector<uint64_t> StubMessages(v1::ActionSegment* segment,
                                   std::span<const uint64_t> seqs) {
  std::vector<uint64_t> changed;
  for (v1::Message& m : *segment->mutable_messages()) {
    if (IsStub(m) || !std::binary_search(seqs.begin(), seqs.end(), m.seq())) {
      continue;
    }
    changed.push_back(m.seq());
    m = StubOf(m);
  }
  // Messages are in seq order, so `changed` is ascending already.
  return changed;
}

bool HoldsStubs(const v1::ActionSegment& segment) {
  return std::any_of(segment.messages().begin(), segment.messages().end(),
                     [](const v1::Message& m) { return IsStub(m); });
}

}  // namespace roomcast::segmenter
