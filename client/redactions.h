// The room's `redactions` state component (DESIGN §11): every seq a
// moderator retracted within the room's retention window, as
// {"seqs": [12, 15, ...]}. A reader never shows a message listed there: the
// follower reads it before delivering, replay before printing.
//
//   ROOMCAST_ASSIGN_OR_RETURN(std::set<uint64_t> gone,
//                             FetchRedactions(base, room, manifest, deadline));
#ifndef ROOMCAST_CLIENT_REDACTIONS_H_
#define ROOMCAST_CLIENT_REDACTIONS_H_

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "client/room_access.h"
#include "google/protobuf/struct.pb.h"
#include "roomcast/v1/manifest.pb.h"

namespace roomcast::client {

inline constexpr char kRedactionsComponent[] = "redactions";
// At most this many seqs are read from one value (the publisher keeps 4096).
inline constexpr int kMaxRedactedSeqs = 1 << 16;

// The seqs of a `redactions` value; kDataLoss if it is not {"seqs": [...]}
// of positive integers. Bounded by kMaxRedactedSeqs.
absl::StatusOr<std::set<uint64_t>> RedactedSeqs(const google::protobuf::Value& value);

// The component at the version `m` lists (none listed: an empty set),
// fetched under the room's prefix with its access, waiting for it until
// `deadline`.
absl::StatusOr<std::set<uint64_t>> FetchRedactions(
    const std::string& base_url, const RoomAccess& room, const v1::Manifest& m,
    std::chrono::steady_clock::time_point deadline);

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_REDACTIONS_H_
