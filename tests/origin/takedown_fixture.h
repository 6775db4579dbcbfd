// Builders for DESIGN §11's takedown PUT (the takedown contract): a segment
// with some messages replaced by stubs, and the Roomcast-Takedown-* headers
// a publisher sends with it.
#ifndef ROOMCAST_TESTS_ORIGIN_TAKEDOWN_FIXTURE_H_
#define ROOMCAST_TESTS_ORIGIN_TAKEDOWN_FIXTURE_H_

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {

inline constexpr char kTakedownAt[] = "1764290000000";

// `seg` with each message whose seq is in `seqs` replaced by its stub
// Message{seq, ts_ms, redacted{}}.
inline v1::ActionSegment Stubbed(v1::ActionSegment seg, const std::set<uint64_t>& seqs) {
  for (v1::Message& m : *seg.mutable_messages()) {
    if (!seqs.contains(m.seq())) continue;
    v1::Message stub;
    stub.set_seq(m.seq());
    stub.set_ts_ms(m.ts_ms());
    stub.mutable_redacted();
    m = stub;
  }
  return seg;
}

// The takedown headers plus the writer's secret; `seqs` as sent ("2,4").
inline Headers TakedownHeaders(const std::string& old_digest, const std::string& seqs,
                               const std::string& reason = "court%20order%20%C2%A71",
                               const std::string& at = kTakedownAt) {
  return {absl::StrCat("Authorization: Bearer ", kWriteSecret),
          "Content-Type: application/x-protobuf",
          "Roomcast-Takedown-Old: " + old_digest,
          "Roomcast-Takedown-Seqs: " + seqs,
          "Roomcast-Takedown-Reason: " + reason,
          "Roomcast-Takedown-At: " + at};
}

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_ORIGIN_TAKEDOWN_FIXTURE_H_
