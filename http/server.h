// roomcast::http: the small HTTP/1.1 server the origin and the publisher
// share, on Boost.Beast/Asio with C++20 coroutines.
//
// One io_context per thread, each with its own SO_REUSEPORT acceptor (the
// nginx model: no cross-thread hand-off on the hot path). A request is a
// coroutine, so a handler may co_await (hold a request for seconds, wait for
// a durable write) at the cost of a coroutine frame, not a thread.
// Keep-alive, header/body/idle timeouts and size limits are enforced here so
// handlers only see well-formed requests.
//
// Hostile clients are the server's problem, not the handler's (DESIGN §15):
// the header is read first and an optional `admit` callback decides from it
// alone whether the body may be read and how large it may be, so nothing is
// buffered for a caller who is not authorised; framing other than one
// `chunked` coding or a Content-Length gets 400 and a close (RFC 9112 §6.1);
// connections are capped in total and per client address (503 with
// Retry-After beyond); and running out of file descriptors pauses accepting
// instead of spinning.
//
//   http::Server server({.listen = "127.0.0.1:0"},
//       [](http::Request& req) -> boost::asio::awaitable<http::Response> {
//         co_return http::Text(req, boost::beast::http::status::ok, "hi\n");
//       });
//   ROOMCAST_RETURN_IF_ERROR(server.Start());   // binds; server.port() valid
//   std::cout << "listening on " << server.url() << std::endl;
//   server.WaitForSignal();                       // SIGINT/SIGTERM -> Stop()
#ifndef ROOMCAST_HTTP_SERVER_H_
#define ROOMCAST_HTTP_SERVER_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roomcast::http {

namespace beast_http = boost::beast::http;
// A request as far as it has been read: before admission, its header only.
using RequestHead = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// A response whose body the handler writes as it goes, with
// `Transfer-Encoding: chunked` (DESIGN §10's streamed segments). The server
// hands one to every handler (Request::chunked); a handler that calls Begin
// owns the connection's output until it returns, and the Response it returns
// is then ignored. A stream that reached End() keeps the connection; one the
// handler abandons (returns without End) is closed without the last chunk,
// so every cache and client knows the body is incomplete.
//
//   if (!co_await req.chunked->Begin(std::move(head))) co_return {};
//   while (more) if (!co_await req.chunked->Write(next)) co_return {};
//   co_await req.chunked->End();
//   co_return {};
class ChunkedWriter {
 public:
  ChunkedWriter(boost::beast::tcp_stream& stream, std::chrono::milliseconds write_timeout,
                bool head_only)
      : stream_(stream), write_timeout_(write_timeout), head_only_(head_only) {}
  // Sends the status line and headers of `head` (Date set if absent,
  // Transfer-Encoding: chunked, no Content-Length; its body is ignored).
  // False if the client has gone.
  boost::asio::awaitable<bool> Begin(Response head);
  // One chunk (nothing for empty data: an empty chunk would end the body).
  // A HEAD request's stream writes no body. False if the client has gone.
  boost::asio::awaitable<bool> Write(absl::string_view data);
  // The last chunk: the body is complete.
  boost::asio::awaitable<bool> End();
  bool began() const { return began_; }
  bool ended() const { return ended_; }
  // Body bytes written so far (chunk framing excluded).
  size_t bytes() const { return bytes_; }

 private:
  boost::asio::awaitable<bool> Send(std::string bytes);

  boost::beast::tcp_stream& stream_;
  std::chrono::milliseconds write_timeout_;
  bool head_only_;
  bool began_ = false;
  bool ended_ = false;
  bool failed_ = false;
  size_t bytes_ = 0;
};

// A request with its body, as handlers see it, and where it came from.
struct Request : RequestHead {
  using Base = RequestHead;
  using Base::Base;
  Request() = default;
  explicit Request(Base&& base) : Base(std::move(base)) {}
  std::string remote_address;  // the client's IP address, as text
  // Set by the server for every request: how a handler streams its answer.
  ChunkedWriter* chunked = nullptr;
};

// What the server does with a request once its header is read: refuse it
// without reading the body, or read a body of at most `max_body_bytes`.
struct Admission {
  std::optional<Response> refusal;
  size_t max_body_bytes = 0;
};
// Decides from the header alone (and the client's address). Runs on the
// connection's thread before any body byte is read; must not block.
using Admit = std::function<Admission(const RequestHead& header,
                                      absl::string_view remote_address)>;

// The handler answers one request. It runs on the connection's io_context
// thread; it may co_await anything bound to that io_context.
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks one
  int threads = 0;                         // 0: one per core
  size_t max_body_bytes = 1 << 20;         // larger bodies get 413
  size_t max_header_bytes = 16 << 10;      // larger headers get 431
  // A client that has not sent complete headers (or a body) in this long is
  // disconnected: slow-loris protection.
  std::chrono::milliseconds read_timeout{10'000};
  // An idle keep-alive connection is closed after this long.
  std::chrono::milliseconds idle_timeout{60'000};
  // A response that cannot be written in this long closes the connection.
  std::chrono::milliseconds write_timeout{30'000};
  // On Stop(), in-flight requests get this long to finish.
  std::chrono::milliseconds drain_timeout{5'000};
  // Null: every request may send up to max_body_bytes.
  Admit admit;
  // Open connections beyond these get 503 with Retry-After and are closed.
  // The total is also kept below the process's file-descriptor limit.
  size_t max_connections = 16384;
  size_t max_connections_per_address = 1024;
};

// Splits "HOST:PORT" (IPv4, name, or [IPv6]). kInvalidArgument if malformed.
absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(
    absl::string_view listen);

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads. kUnavailable if the
  // address cannot be bound.
  absl::Status Start();
  uint16_t port() const { return port_; }
  // "http://HOST:PORT".
  std::string url() const;

  // Stops accepting, lets in-flight requests finish (up to drain_timeout),
  // then joins the threads. Idempotent; safe from any thread but a server
  // thread.
  void Stop();
  // Blocks until SIGINT or SIGTERM, runs `before_stop` (e.g. to answer held
  // requests now rather than at their hold limit), then Stop()s. The signals
  // are caught from Start() on, so one that arrives during start-up is not
  // lost.
  void WaitForSignal(const std::function<void()>& before_stop = {});

  // The io_contexts serving connections, one per thread (for timers and
  // work a handler wants on its own thread: use the current executor).
  size_t threads() const { return workers_.size(); }
  // Connections open now.
  size_t connections() const;

 private:
  struct Shared;  // what sessions share: options, handler, counters, caps
  struct Worker;
  std::shared_ptr<Shared> shared_;
  std::string host_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<boost::asio::io_context> signal_io_;
  std::shared_ptr<void> signals_;  // a boost::asio::signal_set
  bool stopped_ = false;
};

// Response helpers. Each copies version and keep-alive from the request and
// sets Content-Length and Date.
Response Text(const RequestHead& req, beast_http::status status,
              std::string body, absl::string_view content_type = "text/plain");
// The error body of every 4xx/5xx: {"error": "...", "detail": "..."}.
Response Error(const RequestHead& req, beast_http::status status,
               absl::string_view error, absl::string_view detail);
// 503 with Retry-After: the answer when a limit is reached.
Response Overloaded(const RequestHead& req, absl::string_view detail,
                    int retry_after_s = 1);
// The current time as an IMF-fixdate (RFC 9110), e.g.
// "Sat, 28 Nov 2026 01:24:55 GMT"; cached per second.
std::string HttpDate();

}  // namespace roomcast::http

#endif  // ROOMCAST_HTTP_SERVER_H_
