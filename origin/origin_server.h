// OriginServer: the origin as a running service, the one way to start it.
// It owns the Origin (the store and the request handler), the http::Server
// in front of it and the retention sweeper, so roomcast-origin and
// `roomcast dev` serve, sweep and stop alike.
//
//   OriginServerOptions options;
//   options.origin = {.data_dir = dir, .write_secret = secret};
//   options.http.listen = "127.0.0.1:0";
//   ROOMCAST_ASSIGN_OR_RETURN(auto server, OriginServer::Start(std::move(options)));
//   std::cout << "listening on " << server->url() << std::endl;
//   server->WaitForSignal();  // SIGINT/SIGTERM: answer held requests, drain, stop
#ifndef ROOMCAST_ORIGIN_ORIGIN_SERVER_H_
#define ROOMCAST_ORIGIN_ORIGIN_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "http/server.h"
#include "origin/origin.h"

namespace roomcast::origin {

class Sweeper;

// The largest PUT body unless told otherwise (roomcast-origin's
// --max-body-bytes); larger bodies get 413 before they are read.
inline constexpr size_t kDefaultMaxBodyBytes = 16 << 20;

struct OriginServerOptions {
  OriginOptions origin;
  // Where and how to serve. Set fields one by one (a braced initializer
  // would reset max_body_bytes to http's 1 MiB default). Headers up to
  // 32 KiB: a takedown's Roomcast-Takedown-Seqs alone may be 16 KiB.
  http::ServerOptions http{.max_body_bytes = kDefaultMaxBodyBytes,
                           .max_header_bytes = 32 << 10};
  // How often objects past their retention are removed.
  std::chrono::milliseconds sweep_interval{60'000};
};

class OriginServer {
 public:
  // Opens the store, binds and starts serving and sweeping. The store's or
  // the address's error if either fails.
  static absl::StatusOr<std::unique_ptr<OriginServer>> Start(
      OriginServerOptions options);
  // Stop()s, then closes the store.
  ~OriginServer();
  OriginServer(const OriginServer&) = delete;
  OriginServer& operator=(const OriginServer&) = delete;

  // "http://HOST:PORT", with the port bound if the options asked for 0.
  std::string url() const { return server_->url(); }
  Origin& origin() { return *origin_; }

  // Answers held requests now, lets in-flight ones finish, stops serving and
  // sweeping. Idempotent.
  void Stop();
  // Blocks until SIGINT or SIGTERM, runs `before_stop` while the origin
  // still serves (`roomcast dev` flushes its publisher into it there), then
  // Stop()s.
  void WaitForSignal(const std::function<void()>& before_stop = {});

 private:
  OriginServer(std::unique_ptr<Origin> origin, const OriginServerOptions& options);

  std::unique_ptr<Origin> origin_;  // first in, last out: the others use it
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<Sweeper> sweeper_;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_ORIGIN_SERVER_H_
