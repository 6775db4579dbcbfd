#include "bench/load/http_connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace roomcast::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

absl::Status Failed(absl::string_view what, const beast::error_code& ec) {
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

int64_t MaxAge(absl::string_view cache_control) {
  for (absl::string_view part : absl::StrSplit(cache_control, ',')) {
    part = absl::StripAsciiWhitespace(part);
    int64_t v = 0;
    if (absl::ConsumePrefix(&part, "max-age=") && absl::SimpleAtoi(part, &v)) return v;
  }
  return -1;
}

}  // namespace

HttpConnection::HttpConnection(asio::any_io_executor ex, asio::ip::tcp::endpoint ep,
                               std::string host, std::chrono::milliseconds timeout)
    : ex_(std::move(ex)), ep_(ep), host_(std::move(host)), timeout_(timeout) {}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Get(absl::string_view target) {
  Request req(bh::verb::get, beast::string_view(target.data(), target.size()), 11);
  co_return co_await Send(req);
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Post(absl::string_view target,
                                                                std::string body,
                                                                const Headers& headers) {
  Request req(bh::verb::post, beast::string_view(target.data(), target.size()), 11);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();
  co_return co_await Send(req);
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Send(Request& req) {
  req.set(bh::field::host, host_);
  bool fresh = false;
  absl::StatusOr<HttpReply> r = co_await SendOnce(req, &fresh);
  // A kept-alive connection the server closed while idle: the request never
  // reached it, so one retry on a new connection is safe.
  if (!r.ok() && !fresh && absl::IsUnavailable(r.status())) {
    r = co_await SendOnce(req, &fresh);
  }
  co_return r;
}

asio::awaitable<absl::Status> HttpConnection::Connect(bool* fresh) {
  if (stream_) co_return absl::OkStatus();
  stream_.emplace(ex_);
  stream_->expires_after(timeout_);
  auto [ec] = co_await stream_->async_connect(ep_, kTuple);
  ++connects_;
  *fresh = true;
  if (ec) {
    stream_.reset();
    co_return Failed("connect", ec);
  }
  stream_->socket().set_option(asio::ip::tcp::no_delay(true));
  co_return absl::OkStatus();
}

// Connects if needed and sends `req`; the read that follows shares the
// timeout set here.
asio::awaitable<absl::Status> HttpConnection::Write(Request& req, bool* fresh) {
  if (absl::Status st = co_await Connect(fresh); !st.ok()) co_return st;
  stream_->expires_after(timeout_);
  buf_.clear();
  if (auto [ec, n] = co_await bh::async_write(*stream_, req, kTuple); ec) {
    stream_.reset();
    co_return Failed("write", ec);
  }
  co_return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::SendOnce(Request& req,
                                                                    bool* fresh) {
  if (absl::Status st = co_await Write(req, fresh); !st.ok()) co_return st;
  bh::response_parser<bh::string_body> parser;
  parser.body_limit(64 << 20);
  if (auto [ec, n] = co_await bh::async_read(*stream_, buf_, parser, kTuple); ec) {
    stream_.reset();
    co_return Failed("read", ec);
  }
  bh::response<bh::string_body>& res = parser.get();
  HttpReply out;
  out.status = res.result_int();
  out.max_age_s = MaxAge(absl::string_view(res[bh::field::cache_control].data(),
                                           res[bh::field::cache_control].size()));
  out.cache_status = std::string(res["X-Cache-Status"]);
  out.body = std::move(res.body());
  if (!res.keep_alive()) stream_.reset();
  co_return out;
}

asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::Stream(
    absl::string_view target, const OnBody& on_body) {
  Request req(bh::verb::get, beast::string_view(target.data(), target.size()), 11);
  req.set(bh::field::host, host_);
  bool fresh = false;
  absl::StatusOr<HttpReply> r = co_await StreamOnce(req, &fresh, on_body);
  if (!r.ok() && !fresh && absl::IsUnavailable(r.status()) && !streamed_) {
    r = co_await StreamOnce(req, &fresh, on_body);
  }
  co_return r;
}

// Reads the header, then the body a read at a time through a buffer_body:
// each piece goes to `on_body` as soon as the parser has it.
asio::awaitable<absl::StatusOr<HttpReply>> HttpConnection::StreamOnce(
    Request& req, bool* fresh, const OnBody& on_body) {
  streamed_ = false;
  if (absl::Status st = co_await Write(req, fresh); !st.ok()) co_return st;
  bh::response_parser<bh::buffer_body> parser;
  parser.body_limit(64 << 20);
  if (auto [ec, n] = co_await bh::async_read_header(*stream_, buf_, parser, kTuple); ec) {
    stream_.reset();
    co_return Failed("read", ec);
  }
  HttpReply out;
  out.status = parser.get().result_int();
  const auto& cc = parser.get()[bh::field::cache_control];
  out.max_age_s = MaxAge(absl::string_view(cc.data(), cc.size()));
  out.cache_status = std::string(parser.get()["X-Cache-Status"]);
  char piece[16384];
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof(piece);
    stream_->expires_after(timeout_);
    auto [ec, n] = co_await bh::async_read_some(*stream_, buf_, parser, kTuple);
    if (ec && ec != bh::error::need_buffer) {
      stream_.reset();
      if (ec == beast::error::timeout) co_return Failed("read body", ec);
      // The answer began and was cut short (no last chunk, DESIGN §10).
      co_return absl::AbortedError(absl::StrCat("read body: ", ec.message()));
    }
    const absl::string_view got(piece, sizeof(piece) - parser.get().body().size);
    if (got.empty()) continue;
    streamed_ = true;
    if (out.status != 200) {
      out.body.append(got.data(), got.size());
    } else if (absl::Status st = on_body(got); !st.ok()) {
      stream_.reset();
      co_return st;
    }
  }
  if (!parser.get().keep_alive()) stream_.reset();
  co_return out;
}

}  // namespace roomcast::bench
