#include "bench/load/poster.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr char kProto[] = "application/x-protobuf";

std::string RoomPath(const std::string& room) { return absl::StrCat("/v1/rooms/", room); }

absl::Status Refused(absl::string_view what, const HttpReply& r) {
  return absl::UnavailableError(
      absl::StrCat(what, ": HTTP ", r.status, " ", r.body.substr(0, 200)));
}

// The connections of one poster, and the posts still in flight.
struct PostPool {
  std::vector<std::unique_ptr<HttpConnection>> idle;
  size_t in_flight = 0;
};

asio::awaitable<void> PostOne(std::unique_ptr<HttpConnection> conn, uint64_t n,
                              const PostOptions& o, PostResults& out,
                              std::shared_ptr<PostPool> pool) {
  // As protobuf the body is always a batch (here of one).
  v1::PostMessagesRequest batch;
  v1::MessageInput& in = *batch.add_messages();
  in.set_type("comment");
  in.set_text(absl::StrCat("e2e comment ", n));
  in.set_client_msg_id(absl::StrCat("e2e-", n));
  HttpConnection::Headers headers;
  headers.emplace_back("Content-Type", kProto);
  headers.emplace_back("Accept", kProto);
  headers.emplace_back("Authorization", "Bearer " + o.token);
  const auto t0 = Clock::now();
  absl::StatusOr<HttpReply> r =
      co_await conn->Post(absl::StrCat(RoomPath(o.room), "/messages"),
                          batch.SerializeAsString(), headers);
  v1::PostMessagesResponse reply;
  if (r.ok() && r->status == 200 && reply.ParseFromString(r->body) &&
      reply.results_size() == 1) {
    out.ack.Record(Clock::now() - t0);
    const v1::PostResult& result = reply.results(0);
    out.acked.push_back(
        {.seq = result.seq(), .ts_ms = result.ts_ms(), .bucket = result.bucket()});
  } else {
    if (out.failed++ == 0) {
      std::cerr << "poster: " << (r.ok() ? Refused("post", *r) : r.status()) << "\n";
    }
  }
  pool->idle.push_back(std::move(conn));
  --pool->in_flight;
}

}  // namespace

asio::awaitable<absl::Status> OpenRoom(HttpConnection& conn, const std::string& room,
                                       int64_t bucket_ms, const std::string& token) {
  // Built before the co_await: GCC 12 miscompiles braced pairs inside one.
  HttpConnection::Headers headers;
  headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("Authorization", "Bearer " + token);
  // A 503 (a shard between owners: Retry-After 1) is retried for 30 s, as a
  // careful client would.
  asio::steady_timer wait(co_await asio::this_coro::executor);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<HttpReply> r = co_await conn.Post(
        RoomPath(room), absl::StrCat(R"({"bucket_ms":)", bucket_ms, "}"), headers);
    if (!r.ok()) co_return r.status();
    if (r->status == 200) co_return absl::OkStatus();
    if (r->status != 503 || attempt == 30) co_return Refused("open room", *r);
    wait.expires_after(std::chrono::seconds(1));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> PostAtRate(asio::any_io_executor ex, asio::ip::tcp::endpoint ep,
                                 std::string host, const PostOptions& o,
                                 PostResults& out) {
  auto pool = std::make_shared<PostPool>();
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / o.rate_per_s));
  const auto start = Clock::now();
  asio::steady_timer timer(ex);
  // Each post at a random point of its period: a fixed rate whose period
  // divides D would put every message at the same few offsets within its
  // bucket, and the run's percentiles would depend on that phase.
  std::minstd_rand rng(std::random_device{}());
  std::uniform_int_distribution<Clock::rep> jitter(0, period.count() - 1);
  for (uint64_t n = 0;; ++n) {
    const auto slot = start + n * period + Clock::duration(jitter(rng));
    if (slot >= start + o.duration) break;
    timer.expires_at(slot);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (Clock::now() - slot > std::chrono::milliseconds(10)) ++out.behind_schedule;
    std::unique_ptr<HttpConnection> conn;
    if (pool->idle.empty()) {
      conn = std::make_unique<HttpConnection>(ex, ep, host, o.timeout);
    } else {
      conn = std::move(pool->idle.back());
      pool->idle.pop_back();
    }
    ++pool->in_flight;
    asio::co_spawn(ex, PostOne(std::move(conn), n, o, out, pool), asio::detached);
  }
  const auto deadline = Clock::now() + o.timeout;
  while (pool->in_flight > 0 && Clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace roomcast::bench
