// One keep-alive HTTP/1.1 client connection for the load tools: a simulated
// viewer or poster on a single-threaded io_context. Connects on first use,
// and when the server has closed an idle keep-alive connection it reconnects
// and sends the request once more (the request never reached the server).
//
//   HttpConnection conn(io.get_executor(), endpoint, "127.0.0.1:8000");
//   absl::StatusOr<HttpReply> r = co_await conn.Get("/v1/rooms/r/manifest.pb");
//   if (r.ok() && r->status == 200) Decode(r->body);
//
// Not thread-safe; one request at a time.
#ifndef ROOMCAST_BENCH_LOAD_HTTP_CONNECTION_H_
#define ROOMCAST_BENCH_LOAD_HTTP_CONNECTION_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roomcast::bench {

struct HttpReply {
  int status = 0;
  std::string body;
  int64_t max_age_s = -1;     // Cache-Control max-age, -1 if none
  std::string cache_status;   // X-Cache-Status (the reference cache configs set it)
};

class HttpConnection {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  HttpConnection(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep,
                 std::string host, std::chrono::milliseconds timeout);

  // kUnavailable for connect, write or read failures (the connection is
  // dropped; the next request reconnects), kDeadlineExceeded on timeout.
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Get(absl::string_view target);
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Post(absl::string_view target,
                                                         std::string body,
                                                         const Headers& headers);

  // A GET whose 200 body is handed to `on_body` piece by piece as it
  // arrives (a streamed open bucket, DESIGN §10); the reply's body is
  // empty then. Any other status comes back whole, as from Get. An error
  // from `on_body` ends the request (the connection is dropped) and is
  // returned; a body that ends early (no last chunk) is kAborted.
  using OnBody = std::function<absl::Status(absl::string_view)>;
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Stream(absl::string_view target,
                                                           const OnBody& on_body);

  uint64_t connects() const { return connects_; }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  boost::asio::awaitable<absl::StatusOr<HttpReply>> Send(Request& req);
  boost::asio::awaitable<absl::StatusOr<HttpReply>> SendOnce(Request& req,
                                                             bool* fresh);
  boost::asio::awaitable<absl::Status> Connect(bool* fresh);
  boost::asio::awaitable<absl::Status> Write(Request& req, bool* fresh);
  boost::asio::awaitable<absl::StatusOr<HttpReply>> StreamOnce(Request& req, bool* fresh,
                                                               const OnBody& on_body);

  boost::asio::any_io_executor ex_;
  boost::asio::ip::tcp::endpoint ep_;
  std::string host_;
  std::chrono::milliseconds timeout_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buf_;
  uint64_t connects_ = 0;
  bool streamed_ = false;  // body bytes were handed over: never sent again
};

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_HTTP_CONNECTION_H_
