// The publisher's HTTP ingest API (DESIGN §6) on roomcast::http.
//
// Translates requests into Publisher calls (a table of routes, one handler
// each) and their results into answers:
// bodies are JSON (protobuf's mapping, proto field names) or protobuf
// (Content-Type: application/x-protobuf); every error is
// {"error": "...", "detail": "..."} with 400/401/403/404/409/413/429/503.
// A handler co_awaits the durable write, which costs a coroutine frame, not
// a thread.
//
//   IngestApi api(publisher.get(), {.jwt_secret = secret});
//   http::Server server({.listen = "127.0.0.1:0"},
//                       [&](http::Request& r) { return api.Handle(r); });
#ifndef ROOMCAST_PUBLISHER_API_H_
#define ROOMCAST_PUBLISHER_API_H_

#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "http/server.h"
#include "publisher/options.h"
#include "publisher/publisher.h"

namespace roomcast::publisher {

struct ApiOptions {
  std::string jwt_secret;
  const base::Clock* clock = nullptr;  // token expiry; null: the system clock
  IngestLimits limits;  // bodies are bounded by these before they are parsed
  size_t max_body_bytes = 1 << 20;  // a batch of messages at most
};

// Where a room's writes go in cluster mode (DESIGN §13): the engine that
// owns the room's shard in this process, or a hand-off to the publisher
// that owns it. Called after the request was authorised here.
class RoomRouter {
 public:
  virtual ~RoomRouter() = default;
  // The engine of `room`'s shard if this process owns it; null if not. The
  // pointer keeps the engine alive for the request.
  virtual std::shared_ptr<Publisher> Local(const std::string& room) = 0;
  // The owner's answer to `req` (503 with Retry-After if there is none).
  virtual boost::asio::awaitable<http::Response> Forward(http::Request& req,
                                                         const std::string& room) = 0;
  // GET /healthz and GET /metrics.
  virtual bool healthy() = 0;
  virtual std::string RenderMetrics() = 0;
};

class IngestApi {
 public:
  IngestApi(Publisher* publisher, ApiOptions options);
  // Cluster mode: each room's engine comes from `router` (which outlives
  // the API).
  IngestApi(RoomRouter* router, ApiOptions options);

  boost::asio::awaitable<http::Response> Handle(http::Request& req);
  // Before any body is read (http::ServerOptions::admit): an unknown
  // endpoint gets 404, a request without a valid token 401, a token for
  // another room 403, and each endpoint may send only the body it needs.
  http::Admission Admit(const http::RequestHead& req, absl::string_view remote);

 private:
  boost::asio::awaitable<http::Response> Route(http::Request& req);
  absl::StatusOr<auth::Claims> Authenticate(const http::RequestHead& req);

  Publisher* const publisher_;  // one engine, or
  RoomRouter* const router_;    // one per shard (cluster mode)
  const ApiOptions options_;
  base::SystemClock system_clock_;
  // Tokens that verified, by their exact text (signature included), so a
  // client's next request costs a lookup and an expiry check instead of an
  // HMAC and two JSON parses (most of a single-message POST's CPU, measured
  // by bench/ingest.sh). Bounded: emptied when full.
  absl::Mutex verified_mu_;
  absl::flat_hash_map<std::string, auth::Claims> verified_ ABSL_GUARDED_BY(verified_mu_);
};

// The HTTP answer for a status from the publisher: its code's status line
// and an {"error","detail"} body (Retry-After on 429).
http::Response ErrorFor(const http::RequestHead& req, const absl::Status& s);

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_API_H_
