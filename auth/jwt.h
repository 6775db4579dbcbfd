// JWT (RFC 7519) HS256 tokens (DESIGN §6): how the publisher authenticates
// senders, how the origin lets a viewer read its own peer objects, and what
// `roomcast token` mints. Its own library so the origin and the CLI need not
// link the publisher.
//
// Only HS256 is accepted; every other `alg`, `none` included, is refused, so
// a token can never choose its own (weaker) verification. The signature is
// checked (HMAC-SHA256, constant-time compare) before any part of the token
// is decoded or parsed, so a forgery costs one MAC. base64url is strict and
// canonical: a token has one spelling. `exp` is required, whole seconds, and
// at most 30 days ahead; `nbf` and `iat`, when present, must be times too; a
// `crit` header is refused (we understand no extensions). `room: "*"` is
// for service and moderator tokens only.
//
//   absl::StatusOr<Claims> c = VerifyJwt(token, secret, NowSeconds());
//   if (!c.ok()) return 401;                        // kUnauthenticated
//   std::string t = MintJwt({.sub = "u1", .role = v1::ROLE_AUDIENCE,
//                            .room = "lobby", .exp = now + 3600}, secret);
#ifndef ROOMCAST_AUTH_JWT_H_
#define ROOMCAST_AUTH_JWT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "roomcast/v1/message.pb.h"

namespace roomcast::auth {

struct Claims {
  std::string sub;                         // user id, [A-Za-z0-9_-]{1,64}
  v1::Role role = v1::ROLE_UNSPECIFIED;    // from "role"
  std::string room;                        // a room id, or "*" for any
  int64_t exp = 0;                         // unix seconds
};

// The longest a token may still be valid for when it is verified.
inline constexpr int64_t kMaxTokenLifetimeS = 30 * 86400;

// True for the roles whose tokens may name every room ("*").
bool MayNameEveryRoom(v1::Role role);

// "audience", "anchor", "moderator", "service"; and back (kInvalidArgument
// for anything else).
absl::string_view RoleName(v1::Role role);
absl::StatusOr<v1::Role> ParseRole(absl::string_view name);

// Verifies an HS256 token at time `now_s` (unix seconds). kUnauthenticated
// with a reason for anything wrong: shape, alg, signature, claims, expiry.
absl::StatusOr<Claims> VerifyJwt(absl::string_view token,
                                 absl::string_view secret, int64_t now_s);

// Signs claims as an HS256 token.
std::string MintJwt(const Claims& claims, absl::string_view secret);

// True if the claims allow acting in `room`.
bool AllowsRoom(const Claims& claims, absl::string_view room);

// The user a viewer's token speaks for in `room` (how the origin authorizes
// peer reads): kUnauthenticated for a bad token, kPermissionDenied for
// another room's.
absl::StatusOr<std::string> VerifyViewer(absl::string_view token,
                                         absl::string_view secret,
                                         absl::string_view room, int64_t now_s);

}  // namespace roomcast::auth

#endif  // ROOMCAST_AUTH_JWT_H_
