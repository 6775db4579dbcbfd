
#include "segmenter/peer_hint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"

namespace roomcast::segmenter {
namespace {

constexpr absl::string_view kKeyLabel = "roomcast-peer-hint-v1:";
constexpr uint32_t kMinBits = 64;

uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// The two 64-bit halves that seed double hashing for (key, bucket).
std::pair<uint64_t, uint64_t> EntryHashes(const HintKey& key, int64_t index) {
  char be[8];
  for (int i = 0; i < 8; ++i) {
    be[i] = static_cast<char>(static_cast<uint64_t>(index) >> (56 - 8 * i));
  }
  const base::Sha256Digest mac = base::HmacSha256Digest(
      absl::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
      absl::string_view(be, 8));
  return {LoadBigEndian64(mac.data()),
          LoadBigEndian64(mac.data() + 8) | 1};  // odd, so probes differ
}

}  // namespace

HintKey DeriveHintKey(absl::string_view room_secret, absl::string_view user) {
  return base::HmacSha256Digest(room_secret, absl::StrCat(kKeyLabel, user));
}

std::string HintKeyBytes(const HintKey& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

bool HintKeyFromBytes(absl::string_view bytes, HintKey* key) {
  if (bytes.size() != key->size()) return false;
  std::memcpy(key->data(), bytes.data(), key->size());
  return true;
}

std::string PeerNoticeTag(const HintKey& key, int64_t bucket_index, uint32_t n) {
  const base::Sha256Digest mac = base::HmacSha256Digest(
      absl::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
      absl::StrCat("roomcast-peer-notice-v1:", bucket_index, ":", n));
  return std::string(reinterpret_cast<const char*>(mac.data()), kPeerNoticeTagBytes);
}

PeerHintBuilder::PeerHintBuilder(size_t capacity, double fpr) {
  // Optimal Bloom parameters: m = -n ln p / (ln 2)^2, k = m/n ln 2. Sized
  // for p/2: the formula is an average, and a small filter's actual rate
  // varies around it; the margin keeps each filter under p.
  const double n = static_cast<double>(std::max<size_t>(capacity, 1));
  const double ln2 = std::log(2.0);
  double m = std::ceil(-n * std::log(fpr / 2) / (ln2 * ln2));
  uint32_t bits = std::max(kMinBits, static_cast<uint32_t>(m));
  bits = (bits + 7) / 8 * 8;
  const uint32_t k = std::clamp<uint32_t>(
      static_cast<uint32_t>(std::lround(bits / n * ln2)), 1, 16);
  hint_.set_num_bits(bits);
  hint_.set_num_hashes(k);
  hint_.mutable_bits()->assign(bits / 8, '\0');
}

void PeerHintBuilder::Add(const HintKey& key, int64_t bucket_index) {
  auto [h1, h2] = EntryHashes(key, bucket_index);
  std::string& bits = *hint_.mutable_bits();
  for (uint32_t i = 0; i < hint_.num_hashes(); ++i) {
    const uint64_t b = (h1 + i * h2) % hint_.num_bits();
    bits[b / 8] = static_cast<char>(bits[b / 8] | (1u << (b % 8)));
  }
}

bool PeerHintMayContain(const v1::PeerHint& hint, const HintKey& key,
                        int64_t bucket_index) {
  if (hint.num_bits() == 0 || hint.num_hashes() == 0 ||
      hint.bits().size() * 8 < hint.num_bits() || hint.num_hashes() > 64) {
    return true;
  }
  auto [h1, h2] = EntryHashes(key, bucket_index);
  for (uint32_t i = 0; i < hint.num_hashes(); ++i) {
    const uint64_t b = (h1 + i * h2) % hint.num_bits();
    if (!(static_cast<uint8_t>(hint.bits()[b / 8]) & (1u << (b % 8)))) return false;
  }
  return true;
}

}  // namespace roomcast::segmenter
