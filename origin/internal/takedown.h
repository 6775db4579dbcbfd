// The takedown PUT's rules (DESIGN §11, the takedown contract): its request
// headers, parsed within fixed bounds before anything else runs, and the
// check that a new object is the old one with exactly the listed messages
// replaced by stubs, so a leaked write secret cannot rewrite history.
// Internal to origin/; pure (no I/O).
//
//   ROOMCAST_ASSIGN_OR_RETURN(TakedownHeaders h, ParseTakedownHeaders(req));
//   ROOMCAST_RETURN_IF_ERROR(CheckStubbed(old_bytes, new_bytes, h.seqs));
#ifndef ROOMCAST_ORIGIN_INTERNAL_TAKEDOWN_H_
#define ROOMCAST_ORIGIN_INTERNAL_TAKEDOWN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "http/server.h"

namespace roomcast::origin {

inline constexpr char kTakedownOldHeader[] = "Roomcast-Takedown-Old";
inline constexpr char kTakedownSeqsHeader[] = "Roomcast-Takedown-Seqs";
inline constexpr char kTakedownReasonHeader[] = "Roomcast-Takedown-Reason";
inline constexpr char kTakedownAtHeader[] = "Roomcast-Takedown-At";

inline constexpr size_t kMaxTakedownSeqs = 1000;
inline constexpr size_t kMaxTakedownSeqsHeaderBytes = 16 << 10;
inline constexpr size_t kMaxTakedownReasonBytes = 512;  // decoded

struct TakedownHeaders {
  std::string old_digest;       // 64 lowercase hex
  std::vector<uint64_t> seqs;   // strictly ascending, 1 .. kMaxTakedownSeqs
  std::string reason;           // percent-decoded, valid UTF-8
  int64_t at_ms = 0;            // > 0
};

// True if the request carries any Roomcast-Takedown-* header: then it is a
// takedown, and a malformed one is refused rather than taken as a plain PUT.
bool IsTakedown(const http::RequestHead& req);

// kInvalidArgument names the header that is missing, repeated or malformed.
absl::StatusOr<TakedownHeaders> ParseTakedownHeaders(const http::RequestHead& req);

// OK if `new_bytes` (an ActionSegment: a bucket or a rollup) is `old_bytes`
// with every message whose seq is listed replaced by its stub
// Message{seq, ts_ms, redacted{}}, at least one message changed, and
// everything else equal after decoding. kInvalidArgument says what differs.
absl::Status CheckStubbed(absl::string_view old_bytes, absl::string_view new_bytes,
                          const std::vector<uint64_t>& seqs);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_TAKEDOWN_H_
