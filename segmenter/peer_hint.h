// The keyed Bloom hint of DESIGN §5: which users have a peer object in a
// bucket, testable only by each user for itself.
//
// A user's hint key is HMAC-SHA256(room secret, "roomcast-peer-hint-v1:" +
// user); the user fetches it once with its token. The entry for a bucket is
// HMAC-SHA256(hint key, bucket index), so entries differ per bucket, cannot be
// linked across buckets, and reveal no user id to anyone without the key.
// Exact bit layout: see PeerHint in schemas/roomcast/v1/segment.proto.
//
//   PeerHintBuilder b(/*capacity=*/users.size());
//   for (auto& u : users) b.Add(DeriveHintKey(secret, u), k);
//   *segment.mutable_peer_hint() = b.Build();
//   ...
//   if (PeerHintMayContain(segment.peer_hint(), my_key, k)) FetchPeer(k);
#ifndef ROOMCAST_SEGMENTER_PEER_HINT_H_
#define ROOMCAST_SEGMENTER_PEER_HINT_H_

#include <array>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "roomcast/v1/segment.pb.h"

namespace roomcast::segmenter {

using HintKey = std::array<uint8_t, 32>;

// The user's hint key under the room's secret.
HintKey DeriveHintKey(absl::string_view room_secret, absl::string_view user);
// As bytes, for the HintKey message; and back (false if not 32 bytes).
std::string HintKeyBytes(const HintKey& key);
bool HintKeyFromBytes(absl::string_view bytes, HintKey* key);

// Builds a filter sized for `capacity` entries at false-positive rate `fpr`.
class PeerHintBuilder {
 public:
  explicit PeerHintBuilder(size_t capacity, double fpr = 0.01);
  void Add(const HintKey& key, int64_t bucket_index);
  const v1::PeerHint& hint() const { return hint_; }

 private:
  v1::PeerHint hint_;
};

// True if the user holding `key` may have a peer object in bucket `index`;
// false means certainly not. A malformed hint answers true (fetching costs one
// small private request; missing a message costs more).
// A peer notice's tag (v1::Notice.peer): the first 16 bytes of
// HMAC-SHA256(key, "roomcast-peer-notice-v1:<k>:<n>"), n = 1, 2, ...
// counting the user's peer messages in bucket k.
inline constexpr size_t kPeerNoticeTagBytes = 16;
std::string PeerNoticeTag(const HintKey& key, int64_t bucket_index, uint32_t n);

bool PeerHintMayContain(const v1::PeerHint& hint, const HintKey& key,
                        int64_t bucket_index);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_PEER_HINT_H_
