// Digests and MACs, on OpenSSL: the one place roomcast computes SHA-256 and
// HMAC-SHA256 (content digests, JWT and edge-token signatures, peer-hint keys,
// per-room secrets) and compares secrets.
//
//   std::string etag = Sha256Hex(bytes);                 // 64 lowercase hex
//   std::string mac = HmacSha256(secret, signed_part);   // 32 raw bytes
//   if (!ConstantTimeEquals(mac, claimed)) return Unauthenticated();
#ifndef ROOMCAST_BASE_CRYPTO_H_
#define ROOMCAST_BASE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace roomcast::base {

using Sha256Digest = std::array<uint8_t, 32>;

// SHA-256 of `bytes`.
Sha256Digest Sha256(absl::string_view bytes);
// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(absl::string_view bytes);

// HMAC-SHA256 of `data` under `key`, as 32 raw bytes.
Sha256Digest HmacSha256Digest(absl::string_view key, absl::string_view data);
// The same as a 32-byte string.
std::string HmacSha256(absl::string_view key, absl::string_view data);

// Lowercase hex of raw bytes.
std::string HexEncode(absl::string_view bytes);

// True if a and b hold the same bytes. Takes time that depends on the
// lengths only, never on where the first difference is (the length of a
// secret is not secret; its bytes are).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_CRYPTO_H_
