
#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <csignal>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "base/log.h"
#include "google/protobuf/util/json_util.h"
#include "http/address_limits.h"
#include "http/internal/framing.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Server::Shared {
  Shared(ServerOptions o, Handler h)
      : options(std::move(o)),
        handler(std::move(h)),
        limits(options.max_connections, options.max_connections_per_address) {}
  ServerOptions options;
  Handler handler;
  AddressLimits limits;
  // Requests in flight across all workers, so Stop() can drain them.
  std::atomic<int> inflight{0};
  std::atomic<bool> stopping{false};
};

struct Server::Worker {
  asio::io_context io{1};
  std::unique_ptr<tcp::acceptor> acceptor;
};

namespace {

using Parser = beast_http::request_parser<beast_http::string_body>;

// Reads one request's header. Waits up to idle_timeout for its first byte,
// then read_timeout for the rest (a slow client cannot hold the connection).
asio::awaitable<beast::error_code> ReadHeader(beast::tcp_stream& stream,
                                              beast::flat_buffer& buf, Parser& parser,
                                              const ServerOptions& o) {
  if (buf.size() == 0) {
    stream.expires_after(o.idle_timeout);
    auto [ec, n] = co_await stream.async_read_some(buf.prepare(4096), kTuple);
    if (ec) co_return ec;
    buf.commit(n);
  }
  stream.expires_after(o.read_timeout);
  auto [ec, n] = co_await beast_http::async_read_header(stream, buf, parser, kTuple);
  co_return ec;
}

// Reads the rest of an admitted request, within the same read_timeout.
asio::awaitable<beast::error_code> ReadBody(beast::tcp_stream& stream,
                                            beast::flat_buffer& buf, Parser& parser) {
  if (parser.is_done()) co_return beast::error_code();
  auto [ec, n] = co_await beast_http::async_read(stream, buf, parser, kTuple);
  co_return ec;
}

// From the header alone: the answer that ends the request before its body
// is read, or how large its body may be.
Admission Admit(const ServerOptions& o, const Parser& parser,
                absl::string_view remote) {
  const RequestHead& h = parser.get();
  if (auto bad = internal::FramingError(h)) {
    return {.refusal = Error(h, beast_http::status::bad_request, "bad_framing", *bad)};
  }
  Admission a = o.admit ? o.admit(h, remote)
                        : Admission{.max_body_bytes = o.max_body_bytes};
  if (a.refusal) return a;
  a.max_body_bytes = std::min(a.max_body_bytes, o.max_body_bytes);
  if (parser.content_length() && *parser.content_length() > a.max_body_bytes) {
    a.refusal = Error(h, beast_http::status::payload_too_large, "too_large",
                      "request body exceeds the limit for this request");
  }
  return a;
}

// After an early error (413 while the client is still sending), closing at
// once would reset the connection and the client could lose the answer.
// Like nginx's lingering_close: stop sending, then read and discard for a
// little while (bounded in time and bytes) before closing.
asio::awaitable<void> LingeringClose(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(2));
  char scratch[16384];
  for (size_t discarded = 0; discarded < (64u << 20);) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
    if (rec) break;
    discarded += n;
  }
}

// The answer to a request the parser refused, or nullopt to just close.
std::optional<Response> ParseFailure(beast::error_code ec) {
  Request req;  // version 1.1, no keep-alive
  req.keep_alive(false);
  if (ec == beast_http::error::body_limit) {
    return Error(req, beast_http::status::payload_too_large, "too_large",
                 "request body exceeds the server's limit");
  }
  if (ec == beast_http::error::header_limit) {
    return Error(req, beast_http::status::request_header_fields_too_large,
                 "headers_too_large", "request headers exceed the limit");
  }
  if (ec == beast::error::timeout || ec == beast_http::error::end_of_stream ||
      ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted) {
    return std::nullopt;
  }
  return Error(req, beast_http::status::bad_request, "bad_request",
               absl::StrCat("malformed HTTP request: ", ec.message()));
}

asio::awaitable<Response> CallHandler(const Handler& handler, Request& req) {
  try {
    co_return co_await handler(req);
  } catch (const std::exception& e) {
    ROOMCAST_LOG(kError, "http", "handler_threw")
        .Kv("target", absl::string_view(req.target().data(), req.target().size()))
        .Kv("what", e.what());
  }
  co_return Error(req, beast_http::status::internal_server_error, "internal",
                  "the server failed to answer this request");
}

void Finish(const Request& req, Response& res, bool stopping) {
  if (res.find(beast_http::field::date) == res.end()) {
    res.set(beast_http::field::date, HttpDate());
  }
  if (stopping) res.keep_alive(false);
  res.content_length(res.body().size());
  // HEAD: the headers of the GET, Content-Length included, and no body.
  if (req.method() == beast_http::verb::head) res.body().clear();
}

// Sends a response as two buffers, its header serialized into `head` and its
// body, in one gathered write. Beast's serializer gives the kernel an iovec
// per status-line part, header name, separator and value (dozens per
// response) through nested buffer views; bench/origin_get.sh's profile put
// that near a fifth of the origin's CPU per GET. Same bytes on the wire.
asio::awaitable<beast::error_code> WriteResponse(beast::tcp_stream& stream,
                                                 const Response& res,
                                                 std::string& head) {
  head.clear();
  const beast::string_view reason = res.reason();
  absl::StrAppend(&head, res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ",
                  res.result_int(), " ",
                  absl::string_view(reason.data(), reason.size()), "\r\n");
  for (const auto& f : res) {
    const beast::string_view name = f.name_string();
    const beast::string_view value = f.value();
    absl::StrAppend(&head, absl::string_view(name.data(), name.size()), ": ",
                    absl::string_view(value.data(), value.size()), "\r\n");
  }
  head += "\r\n";
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head),
                                                  asio::buffer(res.body())};
  auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
  co_return ec;
}

// Answers a request that ends the connection (a parse failure, a refusal
// before the body, a cap reached), then closes without resetting the client.
asio::awaitable<void> RefuseAndClose(beast::tcp_stream& stream, Response res,
                                     const ServerOptions& o) {
  res.keep_alive(false);
  res.set(beast_http::field::date, HttpDate());
  res.content_length(res.body().size());
  stream.expires_after(o.write_timeout);
  co_await beast_http::async_write(stream, res, kTuple);
  co_await LingeringClose(stream);
}

// Reads one request: the header, its admission, then the body it may send.
// Returns the request, or nullopt once the connection must end (after the
// refusal or parse failure has been answered, or when the client went away).
asio::awaitable<std::optional<Request>> ReadAdmitted(beast::tcp_stream& stream,
                                                     beast::flat_buffer& buf,
                                                     const ServerOptions& o,
                                                     const std::string& remote) {
  Parser parser;
  parser.header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
  // No body limit while the header is read: its Content-Length is judged
  // by Admit, after the caller's authorisation (a 401 before a 413).
  parser.body_limit(boost::none);
  beast::error_code ec = co_await ReadHeader(stream, buf, parser, o);
  if (!ec) {
    Admission admission = Admit(o, parser, remote);
    if (admission.refusal) {
      co_await RefuseAndClose(stream, *std::move(admission.refusal), o);
      co_return std::nullopt;
    }
    parser.body_limit(admission.max_body_bytes);
    if (!parser.is_done() &&
        beast_http::token_list(parser.get()[beast_http::field::expect]).exists("100-continue")) {
      co_await asio::async_write(stream, asio::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                                 kTuple);
    }
    ec = co_await ReadBody(stream, buf, parser);
  }
  if (ec) {
    if (auto res = ParseFailure(ec)) co_await RefuseAndClose(stream, *std::move(res), o);
    co_return std::nullopt;
  }
  Request req(parser.release());
  req.remote_address = remote;
  co_return req;
}

template <typename Shared>
asio::awaitable<void> Session(tcp::socket socket, std::shared_ptr<Shared> sh) {
  const ServerOptions& o = sh->options;
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  const std::string remote = ec ? std::string() : peer.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  std::optional<AddressLimits::Slot> slot = sh->limits.Acquire(remote);
  if (!slot) {
    co_await RefuseAndClose(stream, Overloaded(RequestHead(), "too many connections", 1), o);
    co_return;
  }
  beast::flat_buffer buf;
  std::string head;  // a response's serialized header, reused
  while (!sh->stopping) {
    std::optional<Request> req = co_await ReadAdmitted(stream, buf, o, remote);
    if (!req) break;
    sh->inflight++;
    stream.expires_never();  // a handler may hold the request for a while
    ChunkedWriter chunked(stream, o.write_timeout, req->method() == beast_http::verb::head);
    req->chunked = &chunked;
    Response res = co_await CallHandler(sh->handler, *req);
    if (chunked.began()) {
      sh->inflight--;
      // Unfinished: close without the last chunk, so the body reads as cut.
      if (!chunked.ended() || !req->keep_alive() || sh->stopping) break;
      continue;
    }
    Finish(*req, res, sh->stopping);
    stream.expires_after(o.write_timeout);
    beast::error_code wec = co_await WriteResponse(stream, res, head);
    sh->inflight--;
    if (wec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// Out of descriptors (EMFILE/ENFILE) or memory, accept fails at once and
// would fail again at once: pause instead of spinning, serve the
// connections we have, and say so (once per pause). The timer exists before
// the first failure: creating asio's timer service needs resources that may
// be exactly what ran out.
asio::awaitable<void> PauseAccepting(asio::steady_timer& pause, const beast::error_code& ec) {
  ROOMCAST_LOG(kWarning, "http", "accept_paused")
      .Kv("error", ec.message())
      .Kv("pause_ms", 100);
  pause.expires_after(std::chrono::milliseconds(100));
  co_await pause.async_wait(kTuple);
}

template <typename Shared>
asio::awaitable<void> Accept(tcp::acceptor& acceptor, std::shared_ptr<Shared> sh) {
  asio::steady_timer pause(acceptor.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      co_await PauseAccepting(pause, ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(),
                   Session(std::move(socket), sh), asio::detached);
  }
}

// Lets the process open as many descriptors as its hard limit allows (the
// soft limit is often 1024), and keeps the connection cap below it with
// room for files, RocksDB and outgoing connections.
size_t RaiseDescriptorLimit(size_t wanted_connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return wanted_connections;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  constexpr rlim_t kReserve = 256;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur <= kReserve) return wanted_connections;
  return std::min<size_t>(wanted_connections, rl.rlim_cur - kReserve);
}

}  // namespace

asio::awaitable<bool> ChunkedWriter::Send(std::string bytes) {
  if (failed_) co_return false;
  stream_.expires_after(write_timeout_);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), kTuple);
  stream_.expires_never();
  if (ec) failed_ = true;
  co_return !failed_;
}

asio::awaitable<bool> ChunkedWriter::Begin(Response head) {
  began_ = true;
  head.body().clear();
  if (head.find(beast_http::field::date) == head.end()) {
    head.set(beast_http::field::date, HttpDate());
  }
  head.erase(beast_http::field::content_length);
  head.set(beast_http::field::transfer_encoding, "chunked");
  std::string out;
  const beast::string_view reason = head.reason();
  absl::StrAppend(&out, "HTTP/1.1 ", head.result_int(), " ",
                  absl::string_view(reason.data(), reason.size()), "\r\n");
  for (const auto& f : head) {
    const beast::string_view name = f.name_string();
    const beast::string_view value = f.value();
    absl::StrAppend(&out, absl::string_view(name.data(), name.size()), ": ",
                    absl::string_view(value.data(), value.size()), "\r\n");
  }
  out += "\r\n";
  co_return co_await Send(std::move(out));
}

asio::awaitable<bool> ChunkedWriter::Write(absl::string_view data) {
  if (data.empty() || head_only_) co_return !failed_;
  bytes_ += data.size();
  co_return co_await Send(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

asio::awaitable<bool> ChunkedWriter::End() {
  if (head_only_) {
    ended_ = !failed_;
    co_return ended_;
  }
  ended_ = co_await Send("0\r\n\r\n");
  co_return ended_;
}

absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(
    absl::string_view listen) {
  size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT, got '", listen, "'"));
  }
  std::string host(listen.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in '", listen, "'"));
  }
  return std::pair{host, static_cast<uint16_t>(port)};
}

Server::Server(ServerOptions options, Handler handler) {
  options.max_connections = RaiseDescriptorLimit(options.max_connections);
  shared_ = std::make_shared<Shared>(std::move(options), std::move(handler));
}

size_t Server::connections() const { return shared_->limits.open(); }

Server::~Server() { Stop(); }

std::string Server::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return absl::StrCat("http://", v6 ? "[" : "", host_, v6 ? "]" : "", ":", port_);
}

absl::Status Server::Start() {
  const ServerOptions& options = shared_->options;
  auto hp = ParseHostPort(options.listen);
  if (!hp.ok()) return hp.status();
  host_ = hp->first;
  beast::error_code ec;
  const auto addr = asio::ip::make_address(host_, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad listen address '", host_, "': ", ec.message()));
  }
  const int n = options.threads > 0
                    ? options.threads
                    : std::max(1u, std::thread::hardware_concurrency());
  uint16_t port = hp->second;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->acceptor = std::make_unique<tcp::acceptor>(w->io);
    tcp::endpoint ep(addr, port);
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) w->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      ::setsockopt(w->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                   sizeof(one));
      w->acceptor->bind(ep, ec);
    }
    if (!ec) w->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", host_, ":", port, ": ", ec.message()));
    }
    port = w->acceptor->local_endpoint().port();  // the rest share port 0's pick
    workers_.push_back(std::move(w));
  }
  port_ = port;
  signal_io_ = std::make_unique<asio::io_context>(1);
  auto signals = std::make_shared<asio::signal_set>(*signal_io_, SIGINT, SIGTERM);
  signals->async_wait([](const beast::error_code&, int) {});
  signals_ = signals;
  for (auto& w : workers_) {
    asio::co_spawn(w->io, Accept(*w->acceptor, shared_), asio::detached);
    threads_.emplace_back([io = &w->io] { io->run(); });
  }
  return absl::OkStatus();
}

void Server::Stop() {
  if (stopped_ || workers_.empty()) return;
  stopped_ = true;
  shared_->stopping = true;
  for (auto& w : workers_) {
    asio::post(w->io, [a = w->acceptor.get()] {
      beast::error_code ignored;
      a->close(ignored);
    });
  }
  const auto deadline =
      std::chrono::steady_clock::now() + shared_->options.drain_timeout;
  while (shared_->inflight > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& w : workers_) w->io.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Server::WaitForSignal(const std::function<void()>& before_stop) {
  if (signal_io_ != nullptr) signal_io_->run();  // returns once a signal came
  if (before_stop) before_stop();
  Stop();
}

Response Text(const RequestHead& req, beast_http::status status, std::string body,
              absl::string_view content_type) {
  Response res(status, req.version());
  res.keep_alive(req.keep_alive());
  res.set(beast_http::field::content_type,
          beast::string_view(content_type.data(), content_type.size()));
  res.set(beast_http::field::date, HttpDate());
  res.body() = std::move(body);
  res.content_length(res.body().size());
  return res;
}

Response Error(const RequestHead& req, beast_http::status status,
               absl::string_view error, absl::string_view detail) {
  v1::ErrorReply reply;
  reply.set_error(std::string(error));
  reply.set_detail(std::string(detail));
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(reply, &json, options).ok()) {
    json = "{}";
  }
  Response res = Text(req, status, json + "\n", "application/json");
  res.set(beast_http::field::cache_control, "no-store");
  return res;
}

Response Overloaded(const RequestHead& req, absl::string_view detail,
                    int retry_after_s) {
  Response res = Error(req, beast_http::status::service_unavailable, "overloaded", detail);
  res.set(beast_http::field::retry_after, absl::StrCat(std::max(1, retry_after_s)));
  return res;
}

std::string HttpDate() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  const std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_at = now;
  }
  return cached;
}

}  // namespace roomcast::http
