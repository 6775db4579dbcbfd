// The publisher's side of the peer-hint key chain (DESIGN §5, §7.4): a
// master secret, stable across restarts -> a secret per room and epoch ->
// each user's hint key (segmenter::DeriveHintKey) -> the hint entry of each
// bucket. Segments carry hints made from these, so a publisher that derives
// them again after a crash re-publishes byte-identical segments, and a room
// re-created in a new epoch gets keys unrelated to the old ones.
//
//   std::string secret = RoomHintSecret(master, "lobby", epoch);
//   v1::HintKey key = HintKeyReply("lobby", "u2", secret);  // for u2 only
#ifndef ROOMCAST_PUBLISHER_INTERNAL_HINT_KEYS_H_
#define ROOMCAST_PUBLISHER_INTERNAL_HINT_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::publisher::internal {

std::string RoomHintSecret(absl::string_view master, absl::string_view room,
                           uint64_t epoch);

// What GET /v1/rooms/{room}/peer/{user}/key answers (to that user only).
v1::HintKey HintKeyReply(const std::string& room, const std::string& user,
                         absl::string_view room_secret);

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_HINT_KEYS_H_
