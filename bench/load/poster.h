// The sending side of the end-to-end benchmark: opens a room on the
// publisher and posts one comment at a time at a fixed rate (DESIGN §6),
// each at a random point of its period, recording each ack's latency and
// the seq/ts_ms/bucket the publisher gave it. Posts that are slow to be acked do not delay the next one: each is
// sent on an idle keep-alive connection, or a new one.
//
//   PostResults res;
//   co_await PostAtRate(ex, endpoint, "127.0.0.1:8081",
//                       {.room = "r", .token = anchor_jwt, .rate_per_s = 20}, res);
//
// Every comment carries a client_msg_id, so a resend after a dropped
// connection cannot post it twice.
#ifndef ROOMCAST_BENCH_LOAD_POSTER_H_
#define ROOMCAST_BENCH_LOAD_POSTER_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/load/http_connection.h"
#include "bench/load/latency_histogram.h"

namespace roomcast::bench {

struct PostOptions {
  std::string room;
  std::string token;  // JWT allowed to post in the room
  double rate_per_s = 20;
  std::chrono::milliseconds duration{20000};
  std::chrono::milliseconds timeout{10000};
};

struct PostedMessage {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  int64_t bucket = 0;
};

struct PostResults {
  LatencyHistogram ack;               // POST written -> 2xx read
  std::vector<PostedMessage> acked;   // in ack order
  uint64_t failed = 0;                // no 2xx (the message may still exist)
  uint64_t behind_schedule = 0;       // sent > 10 ms after its slot
};

// Opens `room` with bucket duration `bucket_ms` (the token needs the
// service role). Opening is idempotent at the publisher, so give each run a
// room of its own, or its history mixes with an earlier run's.
boost::asio::awaitable<absl::Status> OpenRoom(HttpConnection& conn,
                                              const std::string& room,
                                              int64_t bucket_ms,
                                              const std::string& token);

// Posts for `o.duration`, then waits for every answer (at most o.timeout).
boost::asio::awaitable<void> PostAtRate(boost::asio::any_io_executor ex,
                                        boost::asio::ip::tcp::endpoint ep,
                                        std::string host, const PostOptions& o,
                                        PostResults& out);

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_POSTER_H_
