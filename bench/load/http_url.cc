#include "bench/load/http_url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace roomcast::bench {

std::string HttpUrl::authority() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("not an http:// URL: '", url, "'"));
  }
  HttpUrl out;
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) out.target = std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  if (colon != absl::string_view::npos) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in '", url, "'"));
    }
    out.port = static_cast<uint16_t>(port);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in '", url, "'"));
  }
  return out;
}

}  // namespace roomcast::bench
