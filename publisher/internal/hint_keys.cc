#include "publisher/internal/hint_keys.h"

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "publisher/publisher.h"
#include "segmenter/peer_hint.h"

namespace roomcast::publisher {

std::string DeriveHintMaster(absl::string_view jwt_secret) {
  return base::HmacSha256(jwt_secret, "roomcast-hint-master-v1");
}

namespace internal {

std::string RoomHintSecret(absl::string_view master, absl::string_view room,
                           uint64_t epoch) {
  return base::HmacSha256(
      master, absl::StrCat("roomcast-room-secret-v1:", room, ":", epoch));
}

v1::HintKey HintKeyReply(const std::string& room, const std::string& user,
                         absl::string_view room_secret) {
  v1::HintKey key;
  key.set_room(room);
  key.set_user(user);
  key.set_key(
      segmenter::HintKeyBytes(segmenter::DeriveHintKey(room_secret, user)));
  return key;
}

}  // namespace internal
}  // namespace roomcast::publisher
