// Edge tokens (DESIGN §12): how a viewer proves it may read a private room,
// to a CDN edge before its cache lookup and to the origin behind it. The
// format is Akamai EdgeAuth's, which CDNs already verify:
//
//   exp=<unix seconds>~acl=/v1/private/<room>/*~hmac=<hex HMAC-SHA256>
//
// where the HMAC (keyed with the edge secret) covers the text before
// "~hmac=". One spelling per token: the fields in this order and no others,
// `exp` in canonical decimal, the HMAC in 64 lowercase hex digits. An `acl`
// ending in "/*" covers every path under its prefix (the prefix ends in "/",
// so /v1/private/ab/* never covers /v1/private/abc/...); any other `acl` is
// one exact path. Any backend mints one with a few lines of its language's
// HMAC (README: "Private rooms").
//
//   std::string t = MintEdgeToken(EdgeAclForRoom("vip"), now_s + 3600, secret);
//   absl::Status s = VerifyEdgeToken(t, "/v1/private/vip/manifest.pb", secret, now_s);
//   // kPermissionDenied: expired, forged, malformed or for another path.
#ifndef ROOMCAST_AUTH_EDGE_TOKEN_H_
#define ROOMCAST_AUTH_EDGE_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace roomcast::auth {

// "/v1/private/<room>/*": every object of one private room.
std::string EdgeAclForRoom(absl::string_view room);

// The token for `acl`, valid until `exp_s` (unix seconds).
std::string MintEdgeToken(absl::string_view acl, int64_t exp_s, absl::string_view secret);

// OK if `token` is well-formed, signed with `secret`, not expired at `now_s`
// and its acl covers `path`; kPermissionDenied with the reason otherwise.
absl::Status VerifyEdgeToken(absl::string_view token, absl::string_view path,
                             absl::string_view secret, int64_t now_s);

// The edge token a request carries: the query parameter rc_token (raw or
// percent-encoded), else the cookie rc_token. nullopt if it carries none;
// an encoding that does not decode is returned as-is (and then fails to
// verify).
std::optional<std::string> EdgeTokenOf(absl::string_view query,
                                       absl::string_view cookie_header);

}  // namespace roomcast::auth

#endif  // ROOMCAST_AUTH_EDGE_TOKEN_H_
