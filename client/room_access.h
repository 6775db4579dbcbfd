// Which room a reader reads, and with what access (DESIGN §12): a public
// room's objects live under /v1/rooms/{room}/, a private room's under
// /v1/private/{room}/ and need the viewer's edge token. The follower and the
// fetch helpers (and so every CLI verb) take one of these, so reading a
// private room is the same code as reading a public one.
//
// The token travels as the cookie rc_token, not in the URL: every viewer
// asks for the same URLs, so no cache in front (a third-party CDN keyed on
// the whole URL included) keeps one copy per viewer, and the token stays out
// of URL logs. Peer objects carry the user's own JWT instead.
//
//   RoomAccess vip{.room = "vip", .edge_token = token_from_the_backend};
//   std::string url = base + vip.SegmentPath(1000, k);  // /v1/private/vip/...
//   FetchOnce(url, vip.Headers());                       // Cookie: rc_token=...
#ifndef ROOMCAST_CLIENT_ROOM_ACCESS_H_
#define ROOMCAST_CLIENT_ROOM_ACCESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "segmenter/naming.h"

namespace roomcast::client {

struct RoomAccess {
  std::string room;
  // Non-empty: the room is private and this is the viewer's edge token
  // (exp=...~acl=/v1/private/<room>/*~hmac=...).
  std::string edge_token;

  bool is_private() const { return !edge_token.empty(); }
  segmenter::Scope scope() const {
    return is_private() ? segmenter::Scope::kPrivate : segmenter::Scope::kPublic;
  }

  // The headers a GET of one of the room's objects carries: the token's
  // cookie for a private room, nothing for a public one.
  std::vector<std::string> Headers() const;

  // The room's paths under its own prefix (the .pb renditions unless told).
  std::string ManifestPath(segmenter::Format f = segmenter::Format::kProto) const;
  std::string SegmentPath(int64_t bucket_ms, int64_t k) const;
  std::string StatePath(absl::string_view component, int64_t version) const;
  std::string SnapshotPath(int64_t total_version) const;
  std::string PeerPath(absl::string_view user, int64_t bucket_ms, int64_t k) const;
};

// "Cookie: rc_token=TOKEN". A byte that may not stand in a cookie (or could
// end the header line) is percent-encoded, which the origin and the
// reference edges decode: a malformed token fails to verify, it never
// smuggles a header in.
std::string EdgeTokenCookie(absl::string_view token);

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_ROOM_ACCESS_H_
