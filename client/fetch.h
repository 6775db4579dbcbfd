// Blocking fetches of single objects, for tools that read a room's history
// (inspect, replay, verify) rather than follow it. Same transport as the
// Client (libcurl, Accept-Encoding: gzip), same manners: a "not yet" is asked
// again after a short pause, transient errors back off with jitter.
//
//   ROOMCAST_ASSIGN_OR_RETURN(v1::Manifest m, FetchManifest(base, "lobby"));
//   ROOMCAST_ASSIGN_OR_RETURN(http::ClientReply raw, FetchClosed(url, deadline));
//   if (EtagDigest(raw) != base::Sha256Hex(raw.body)) ...
#ifndef ROOMCAST_CLIENT_FETCH_H_
#define ROOMCAST_CLIENT_FETCH_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "http/client_reply.h"
#include "roomcast/v1/manifest.pb.h"

namespace roomcast::client {

// The content digest a reply's ETag names: "\"HEX.gz\"" -> "HEX".
std::string EtagDigest(const http::ClientReply& reply);

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

// GETs an object that exists or soon will (a bucket, a state version): a
// "not yet" 404 is asked again after 100-250 ms and 5xx back off, until
// `deadline` (kDeadlineExceeded). A 404 that says "never" (max-age >= 10) is
// kNotFound; other 4xx are kFailedPrecondition.
absl::StatusOr<http::ClientReply> FetchClosed(
    const std::string& url, std::chrono::steady_clock::time_point deadline);

// The room's current manifest.
absl::StatusOr<v1::Manifest> FetchManifest(const std::string& base_url,
                                           const std::string& room);

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_FETCH_H_
