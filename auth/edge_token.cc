#include "auth/edge_token.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "base/ids.h"

namespace roomcast::auth {
namespace {

constexpr absl::string_view kPrivatePrefix = "/v1/private/";
constexpr size_t kMaxTokenBytes = 512;
constexpr size_t kMaxExpDigits = 11;

absl::Status Denied(absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("bad edge token: ", why));
}

// Strict %XX decoding; nullopt if a '%' is not followed by two hex digits.
std::optional<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) ||
        !absl::ascii_isxdigit(s[i + 2])) {
      return std::nullopt;
    }
    const auto hex = [](char c) { return absl::ascii_isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10; };
    out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
    i += 2;
  }
  return out;
}

// Canonical decimal unix seconds: digits only, no leading zero.
std::optional<int64_t> ParseExp(absl::string_view s) {
  if (s.empty() || s.size() > kMaxExpDigits || s[0] == '0') return std::nullopt;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return std::nullopt;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) return std::nullopt;
  return v;
}

// An acl names a private room: "/v1/private/<room>/*" (every object of the
// room) or one exact object path of it; nothing that needs escaping.
bool ValidAcl(absl::string_view acl) {
  if (!absl::StartsWith(acl, kPrivatePrefix)) return false;
  const absl::string_view rest = acl.substr(kPrivatePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || !base::IsValidId(rest.substr(0, slash))) return false;
  const absl::string_view tail = rest.substr(slash + 1);
  if (tail == "*") return true;
  return !tail.empty() && tail.find_first_of("*~!%?#") == absl::string_view::npos;
}

bool AclCovers(absl::string_view acl, absl::string_view path) {
  if (absl::EndsWith(acl, "/*")) {
    return absl::StartsWith(path, acl.substr(0, acl.size() - 1));
  }
  return path == acl;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace

std::string EdgeAclForRoom(absl::string_view room) {
  return absl::StrCat(kPrivatePrefix, room, "/*");
}

std::string MintEdgeToken(absl::string_view acl, int64_t exp_s, absl::string_view secret) {
  const std::string signed_part = absl::StrCat("exp=", exp_s, "~acl=", acl);
  return absl::StrCat(signed_part, "~hmac=",
                      base::HexEncode(base::HmacSha256(secret, signed_part)));
}

absl::Status VerifyEdgeToken(absl::string_view token, absl::string_view path,
                             absl::string_view secret, int64_t now_s) {
  if (token.empty() || token.size() > kMaxTokenBytes) return Denied("size");
  const size_t mac_at = token.rfind("~hmac=");
  if (mac_at == absl::string_view::npos) return Denied("no hmac");
  const absl::string_view signed_part = token.substr(0, mac_at);
  const absl::string_view mac = token.substr(mac_at + 6);
  if (mac.size() != 64 || !IsLowerHex(mac)) return Denied("hmac is not 64 lowercase hex digits");
  // The MAC before anything else is believed.
  if (!base::ConstantTimeEquals(mac, base::HexEncode(base::HmacSha256(secret, signed_part)))) {
    return Denied("hmac mismatch");
  }
  std::vector<absl::string_view> fields = absl::StrSplit(signed_part, '~');
  if (fields.size() != 2 || !absl::ConsumePrefix(&fields[0], "exp=") ||
      !absl::ConsumePrefix(&fields[1], "acl=")) {
    return Denied("fields must be exp, acl, hmac");
  }
  const std::optional<int64_t> exp = ParseExp(fields[0]);
  if (!exp) return Denied("exp is not unix seconds");
  if (now_s >= *exp) return Denied("expired");
  if (!ValidAcl(fields[1])) return Denied("acl is not a private room's path");
  if (!AclCovers(fields[1], path)) return Denied("the token is for another room or path");
  return absl::OkStatus();
}

std::optional<std::string> EdgeTokenOf(absl::string_view query,
                                       absl::string_view cookie_header) {
  for (absl::string_view kv : absl::StrSplit(query, '&')) {
    if (!absl::ConsumePrefix(&kv, "rc_token=")) continue;
    std::optional<std::string> decoded = PercentDecode(kv);
    return decoded ? *decoded : std::string(kv);
  }
  for (absl::string_view c : absl::StrSplit(cookie_header, ';')) {
    c = absl::StripAsciiWhitespace(c);
    if (!absl::ConsumePrefix(&c, "rc_token=")) continue;
    absl::ConsumePrefix(&c, "\"");
    absl::ConsumeSuffix(&c, "\"");
    std::optional<std::string> decoded = PercentDecode(c);
    return decoded ? *decoded : std::string(c);
  }
  return std::nullopt;
}

}  // namespace roomcast::auth
