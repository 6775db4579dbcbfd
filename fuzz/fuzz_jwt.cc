// VerifyJwt on any bytes, and on well-signed tokens whose header and payload
// are the input: whatever it decodes after the signature is checked must be
// bounded and never crash.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "auth/jwt.h"
#include "base/crypto.h"

namespace {
constexpr char kSecret[] = "fuzz-secret";
constexpr int64_t kNow = 1764290000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  (void)roomcast::auth::VerifyJwt(in, kSecret, kNow);
  // Split the input into a header and a payload and sign them: the parts
  // after the signature check get fuzzed too.
  const size_t cut = in.find('\n');
  const absl::string_view header = in.substr(0, cut);
  const absl::string_view payload =
      cut == absl::string_view::npos ? absl::string_view() : in.substr(cut + 1);
  const std::string signed_part = absl::StrCat(absl::WebSafeBase64Escape(header), ".",
                                               absl::WebSafeBase64Escape(payload));
  const std::string token = absl::StrCat(
      signed_part, ".",
      absl::WebSafeBase64Escape(roomcast::base::HmacSha256(kSecret, signed_part)));
  auto claims = roomcast::auth::VerifyJwt(token, kSecret, kNow);
  if (claims.ok() && (claims->exp <= kNow || claims->sub.empty())) std::abort();
  return 0;
}
