// Blocking fetches of single objects, for tools that read a room's history
// (inspect, replay, verify) rather than follow it. Same transport as the
// Client (libcurl, Accept-Encoding: gzip), same manners: a "not yet" is asked
// again after a short pause, transient errors back off with jitter.
//
// A room is named with its access (client/room_access.h), so a private
// room is read like a public one: its paths and the cookie its edge token
// travels in both come from the RoomAccess.
//
//   RoomAccess room{.room = "vip", .edge_token = token};  // or {.room = "lobby"}
//   ROOMCAST_ASSIGN_OR_RETURN(v1::Manifest m, FetchManifest(base, room));
//   ROOMCAST_ASSIGN_OR_RETURN(http::ClientReply raw,
//       FetchClosed(base + room.SegmentPath(d, k), deadline, room.Headers()));
//   if (EtagDigest(raw) != base::Sha256Hex(raw.body)) ...
#ifndef ROOMCAST_CLIENT_FETCH_H_
#define ROOMCAST_CLIENT_FETCH_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/room_access.h"
#include "http/client_reply.h"
#include "roomcast/v1/manifest.pb.h"

namespace roomcast::client {

// The content digest a reply's ETag names: "\"HEX.gz\"" -> "HEX".
std::string EtagDigest(const http::ClientReply& reply);

// A refusal (HTTP 401 or 403) as a Status naming `what` and the server's
// reason (its JSON "detail"): kUnauthenticated for 401 (no edge token),
// kPermissionDenied otherwise (a token the server would not take).
absl::Status RefusalOf(const http::ClientReply& reply, absl::string_view what);

// One GET, any status, the body with any Content-Encoding undone.
// kUnavailable if no answer came.
absl::StatusOr<http::ClientReply> FetchOnce(
    const std::string& url, const std::vector<std::string>& headers = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(15));

// One request with a body (POST, PUT), any status. kUnavailable if no
// answer came.
absl::StatusOr<http::ClientReply> SendOnce(
    const std::string& method, const std::string& url, std::string body,
    const std::vector<std::string>& headers,
    std::chrono::milliseconds timeout = std::chrono::seconds(15));

// GETs an object that exists or soon will (a bucket, a state version),
// with `headers` (a RoomAccess's, for a private room): a "not yet" 404 is
// asked again after 100-250 ms and 5xx back off, until `deadline`
// (kDeadlineExceeded). A 404 that says "never" (max-age >= 10) is
// kNotFound; a refusal is RefusalOf's; other 4xx are kFailedPrecondition.
absl::StatusOr<http::ClientReply> FetchClosed(
    const std::string& url, std::chrono::steady_clock::time_point deadline,
    const std::vector<std::string>& headers = {});

// The room's current manifest, under the room's prefix with its access.
// kNotFound if there is none (a private room's public prefix says nothing
// of it, by design); a refusal is RefusalOf's.
absl::StatusOr<v1::Manifest> FetchManifest(const std::string& base_url,
                                           const RoomAccess& room);

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_FETCH_H_
