
#include "base/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace roomcast::base {

Sha256Digest Sha256(absl::string_view bytes) {
  Sha256Digest md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::string Sha256Hex(absl::string_view bytes) {
  const Sha256Digest md = Sha256(bytes);
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(md.data()), md.size()));
}

Sha256Digest HmacSha256Digest(absl::string_view key, absl::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out.data(), &len);
  return out;
}

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  const Sha256Digest d = HmacSha256Digest(key, data);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0xf];
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() &&
         (a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace roomcast::base
