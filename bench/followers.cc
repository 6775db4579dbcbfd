// followers: the end-to-end load generator (DESIGN §9, issue 7). N viewers
// follow one room through a cache while a poster sends comments to the
// publisher at a fixed rate; reports delivery latency (acked POST -> decoded
// by a follower), whether every follower got every acked message exactly
// once and in order, and the poster's ack latency.
//
//   ROOMCAST_JWT_SECRET=... followers --base http://127.0.0.1:8000
//       --publisher http://127.0.0.1:8081 --room e2e-1 --open-room
//       --followers 2000 --rate 20 --duration-ms 20000 [--mode manifest|stream]
//
// Phases: open the room (--open-room, D = --bucket-ms); start the followers
// (--join-rate a second), each reads the manifest and starts following;
// once all have joined and --settle-ms passed, print PHASE=posting and post
// for --duration-ms; print PHASE=draining and let each follower run until it
// has the last acked message's bucket (or --drain-ms). Then KEY=VALUE lines
// on stdout. The PHASE lines let a script read server counters around the
// posting window.
//
// Followers are coroutines on --threads single-threaded io_contexts (one
// keep-alive connection each, two in --mode stream: bucket k+1 is asked
// while k still streams); the poster has a thread of its own.
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "base/flags.h"
#include "bench/load/follower.h"
#include "bench/load/http_url.h"
#include "bench/load/poster.h"
#include "segmenter/naming.h"

namespace roomcast::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr char kProgram[] = "followers";

struct Options {
  HttpUrl base, publisher;
  std::optional<HttpUrl> origin;  // to see the new room's manifest without a cache
  std::string room;
  std::string jwt_secret;
  bool open_room = false;
  int64_t bucket_ms = 250;
  size_t followers = 100;
  size_t threads = 1;
  int64_t join_rate = 2000;
  FollowOptions follow;
  PostOptions post;
  milliseconds settle{500}, drain{5000}, join_timeout{60000}, request_timeout{15000};
};

// One load thread: its followers, their connections and counters.
struct LoadThread {
  asio::io_context io{1};
  FollowStats stats;
  std::vector<FollowerRecord> records;
  std::vector<std::unique_ptr<HttpConnection>> conns;  // before io dies
  std::vector<std::unique_ptr<HttpConnection>> next_conns;  // stream mode's second
  std::thread thread;
};

asio::ip::tcp::endpoint Endpoint(const HttpUrl& u) {
  return {asio::ip::make_address(u.host), u.port};
}

// Starts the thread's followers, a few at a time so the listen backlog of the
// cache never overflows.
asio::awaitable<void> Spawn(LoadThread& t, const Options& o, RunControl& control) {
  asio::steady_timer pace(t.io);
  const int64_t per_tick = std::max<int64_t>(1, o.join_rate / o.threads / 100);
  for (size_t i = 0; i < t.conns.size(); ++i) {
    HttpConnection* next = i < t.next_conns.size() ? t.next_conns[i].get() : nullptr;
    asio::co_spawn(t.io, Follow(*t.conns[i], next, o.follow, control, t.stats, t.records[i]),
                   asio::detached);
    if ((i + 1) % per_tick == 0) {
      pace.expires_after(milliseconds(10));
      co_await pace.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

// Asks the origin itself until the new room's manifest is there: a follower
// asking a cache too early would get a "not yet" the cache keeps for a
// second, and the join would measure that.
void WaitForManifest(asio::io_context& io, const HttpUrl& origin, const std::string& room) {
  HttpConnection conn(io.get_executor(), Endpoint(origin), origin.authority(),
                      milliseconds(5000));
  const std::string path = segmenter::ManifestPath(room);  // outlives each Get
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    bool done = false, found = false;
    asio::co_spawn(io, conn.Get(path),
                   [&](std::exception_ptr e, absl::StatusOr<HttpReply> r) {
                     found = !e && r.ok() && r->status == 200;
                     done = true;
                   });
    while (!done) io.run_one();
    if (found) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
  base::Fail(kProgram, absl::DeadlineExceededError("the room's manifest never appeared"));
}

// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <typename Pred>
bool WaitFor(Pred pred, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string Ms(std::chrono::nanoseconds d) {
  return absl::StrFormat("%.1f", static_cast<double>(d.count()) / 1e6);
}

void PrintLatency(const char* name, const LatencyHistogram& h) {
  std::cout << name << "_P50_MS=" << Ms(h.Percentile(0.5)) << "\n"
            << name << "_P90_MS=" << Ms(h.Percentile(0.9)) << "\n"
            << name << "_P99_MS=" << Ms(h.Percentile(0.99)) << "\n"
            << name << "_MAX_MS=" << Ms(h.max()) << "\n"
            << name << "_N=" << h.count() << "\n";
}

// The acked seqs against each follower's stream: exactly once, in order.
// Returns how many followers got exactly the acked messages.
size_t PrintDelivery(const PostResults& posted, const std::vector<LoadThread*>& threads) {
  uint64_t lo = 0, hi = 0;
  for (const PostedMessage& m : posted.acked) {
    lo = lo == 0 ? m.seq : std::min(lo, m.seq);
    hi = std::max(hi, m.seq);
  }
  const uint64_t n = posted.acked.size();
  size_t exact = 0, unfinished = 0;
  uint64_t min_count = UINT64_MAX, max_count = 0;
  for (const LoadThread* t : threads) {
    for (const FollowerRecord& r : t->records) {
      if (r.count == n && r.first_seq == lo && r.last_seq == hi && r.faults == 0) ++exact;
      if (!r.finished) ++unfinished;
      min_count = std::min(min_count, r.count);
      max_count = std::max(max_count, r.count);
    }
  }
  std::cout << "POSTED=" << n << "\nPOST_FAILED=" << posted.failed
            << "\nPOST_BEHIND_SCHEDULE=" << posted.behind_schedule
            << "\nPOSTED_SEQS_CONTIGUOUS=" << (n > 0 && hi - lo + 1 == n ? 1 : 0)
            << "\nFOLLOWERS_EXACT=" << exact << "\nFOLLOWERS_UNFINISHED=" << unfinished
            << "\nMSGS_PER_FOLLOWER_MIN=" << (min_count == UINT64_MAX ? 0 : min_count)
            << "\nMSGS_PER_FOLLOWER_MAX=" << max_count << "\n";
  return exact;
}

int Run(const Options& o) {
  RunControl control;
  std::vector<std::unique_ptr<LoadThread>> threads;
  for (size_t i = 0; i < o.threads; ++i) threads.push_back(std::make_unique<LoadThread>());
  for (size_t i = 0; i < o.followers; ++i) {
    LoadThread& t = *threads[i % o.threads];
    t.conns.push_back(std::make_unique<HttpConnection>(
        t.io.get_executor(), Endpoint(o.base), o.base.authority(), o.request_timeout));
    if (o.follow.stream) {
      t.next_conns.push_back(std::make_unique<HttpConnection>(
          t.io.get_executor(), Endpoint(o.base), o.base.authority(), o.request_timeout));
    }
    t.records.emplace_back();
  }
  // The poster has a thread of its own, so its schedule never waits behind
  // the followers' work.
  LoadThread poster;
  const auto guard = asio::make_work_guard(poster.io);  // posting comes later

  if (o.open_room) {
    HttpConnection conn(poster.io.get_executor(), Endpoint(o.publisher),
                        o.publisher.authority(), o.request_timeout);
    absl::Status opened = absl::UnknownError("not run");
    auto service = auth::MintJwt({.sub = "e2e-bench", .role = v1::ROLE_SERVICE,
                                  .room = o.room,
                                  .exp = absl::ToUnixSeconds(absl::Now()) + 3600},
                                 o.jwt_secret);
    bool done = false;
    asio::co_spawn(poster.io, OpenRoom(conn, o.room, o.bucket_ms, service),
                   [&](std::exception_ptr e, absl::Status s) {
                     opened = e ? absl::InternalError("open room threw") : s;
                     done = true;
                   });
    while (!done) poster.io.run_one();
    if (!opened.ok()) base::Fail(kProgram, opened);
    if (o.origin) WaitForManifest(poster.io, *o.origin, o.room);
  }
  PostOptions post = o.post;
  post.token = auth::MintJwt({.sub = "e2e-poster", .role = v1::ROLE_ANCHOR,
                              .room = o.room,
                              .exp = absl::ToUnixSeconds(absl::Now()) + 3600},
                             o.jwt_secret);

  const auto t0 = Clock::now();
  poster.thread = std::thread([&io = poster.io] { io.run(); });
  for (auto& t : threads) {
    asio::co_spawn(t->io, Spawn(*t, o, control), asio::detached);
    t->thread = std::thread([&io = t->io] { io.run(); });
  }
  const bool all_joined =
      WaitFor([&] { return control.joined.load() == o.followers; }, o.join_timeout);
  const auto joined_at = Clock::now();
  std::this_thread::sleep_for(o.settle);

  PostResults posted;
  std::atomic<bool> posting_done{false};
  control.measuring = true;
  std::cout << "PHASE=posting" << std::endl;
  const double cpu0 = CpuSeconds();
  const auto post_start = Clock::now();
  asio::co_spawn(poster.io,
                 PostAtRate(poster.io.get_executor(), Endpoint(o.publisher),
                            o.publisher.authority(), post, posted),
                 [&](std::exception_ptr) { posting_done = true; });
  WaitFor([&] { return posting_done.load(); }, o.post.duration + o.post.timeout * 2);
  const auto post_end = Clock::now();
  const double cpu1 = CpuSeconds();
  control.measuring = false;
  std::cout << "PHASE=draining" << std::endl;
  {
    // Read on the poster's thread once it is done: no race with PostOne.
    int64_t last_bucket = 0;
    uint64_t last_seq = 0;
    for (const PostedMessage& m : posted.acked) {
      last_bucket = std::max(last_bucket, m.bucket);
      last_seq = std::max(last_seq, m.seq);
    }
    control.last_seq = last_seq;
    control.last_bucket = last_bucket;
  }
  WaitFor([&] { return control.finished.load() == o.followers; }, o.drain);
  control.stop = true;
  poster.io.stop();
  poster.thread.join();
  for (auto& t : threads) t->io.stop();
  for (auto& t : threads) t->thread.join();

  FollowStats all;
  std::vector<LoadThread*> views;
  uint64_t connects = 0;
  for (auto& t : threads) {
    all.Merge(t->stats);
    views.push_back(t.get());
    for (const auto& c : t->conns) connects += c->connects();
    for (const auto& c : t->next_conns) connects += c->connects();
  }
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
  };
  std::cout << "FOLLOWERS=" << o.followers << "\nMODE="
            << (o.follow.manifest_hold ? "manifest-hold"
                : o.follow.stream      ? "stream"
                                       : "bucket-hold")
            << "\nJOINED=" << control.joined.load() << "\nJOIN_MS=" << ms(joined_at - t0)
            << "\nPOST_WINDOW_MS=" << ms(post_end - post_start) << "\n";
  const size_t exact = PrintDelivery(posted, views);
  PrintLatency("LATENCY", all.latency);
  PrintLatency("AFTER_CLOSE", all.after_close);
  if (o.follow.stream) {
    PrintLatency("LATENCY_EARLY", all.latency_early);
    PrintLatency("LATENCY_LATER", all.latency_later);
  }
  PrintLatency("ACK", posted.ack);
  std::cout << "DELIVERED=" << all.messages << "\nSEGMENTS=" << all.segments
            << "\nEMPTY_SEGMENTS=" << all.empty_segments << "\nMANIFESTS=" << all.manifests
            << "\nREQUESTS=" << all.requests << "\nWINDOW_REQUESTS=" << all.window_requests
            << "\nNOT_YET=" << all.not_yet
            << "\nERRORS=" << all.errors << "\nGAPS=" << all.gaps
            << "\nDUPLICATES=" << all.duplicates << "\nRESTARTS=" << all.restarts
            << "\nRESENT=" << all.resent << "\nCONNECTS=" << connects
            << "\nCLIENT_CPU_S=" << absl::StrFormat("%.2f", cpu1 - cpu0) << std::endl;
  std::cerr << kProgram << ": " << o.followers << " followers, "
            << posted.acked.size() << " posted, delivery " << all.latency.Summary()
            << ", after close " << all.after_close.Summary() << std::endl;
  const bool ok = all_joined && !posted.acked.empty() && exact == o.followers &&
                  all.errors == 0 && all.gaps == 0 && all.duplicates == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace roomcast::bench

int main(int argc, char** argv) {
  using namespace roomcast::bench;
  using roomcast::base::Fail;
  std::string base, publisher, origin, mode = "bucket";
  Options o;
  int64_t followers = 100, threads = 1, duration_ms = 20000, settle_ms = 500,
          drain_ms = 5000, retry_min_ms = 100, retry_max_ms = 200, rate = 20,
          lead_ms = 100;
  roomcast::base::FlagSet flags(
      kProgram, "--base URL --publisher URL --room ROOM [--followers N]",
      "N followers follow ROOM through --base (a cache or the origin) while a\n"
      "poster sends comments to --publisher at a fixed rate; prints delivery\n"
      "latency (acked POST -> decoded by a follower) and exactly-once checks\n"
      "as KEY=VALUE lines. The JWT secret comes from ROOMCAST_JWT_SECRET.\n"
      "Exit 0 if every follower got every acked message exactly once, in\n"
      "order, without a request error.");
  flags.String("base", &base, "where followers read, http://IP:PORT");
  flags.String("publisher", &publisher, "the publisher, http://IP:PORT");
  flags.String("room", &o.room, "the room to follow and post to");
  flags.String("origin", &origin,
               "the origin, http://IP:PORT: with --open-room, wait there for the "
               "room's manifest before the followers start");
  flags.Bool("open-room", &o.open_room, "open the room first (D = --bucket-ms)");
  flags.Int("bucket-ms", &o.bucket_ms, "bucket duration for --open-room");
  flags.Int("followers", &followers, "followers, one connection each");
  flags.Int("threads", &threads, "load threads (one io_context each)");
  flags.Int("join-rate", &o.join_rate, "followers started per second");
  flags.String("mode", &mode,
               "bucket (bucket-hold), manifest (manifest-hold) or stream (each open "
               "bucket read as it streams, the next asked --lead-ms before it ends)");
  flags.Int("lead-ms", &lead_ms, "stream mode: ask for bucket k+1 this long before k ends");
  flags.Int("rate", &rate, "comments posted per second");
  flags.Int("duration-ms", &duration_ms, "how long the poster posts");
  flags.Int("settle-ms", &settle_ms, "pause between the last join and the first post");
  flags.Int("drain-ms", &drain_ms, "longest wait for followers after the last post");
  flags.Int("retry-min-ms", &retry_min_ms, "shortest pause after a \"not yet\" 404");
  flags.Int("retry-max-ms", &retry_max_ms, "longest pause after a \"not yet\" 404");
  flags.Require("base");
  flags.Require("publisher");
  flags.Require("room");
  flags.ParseOrExit(argc, argv);
  if (followers < 1 || threads < 1 || rate < 1 || duration_ms < 1 || retry_min_ms < 0 ||
      retry_max_ms < retry_min_ms || lead_ms < 0 ||
      (mode != "bucket" && mode != "manifest" && mode != "stream")) {
    std::cerr << kProgram << ": bad --followers, --threads, --rate, --duration-ms, "
                             "--retry-*-ms or --mode\n";
    return 2;
  }
  for (auto [flag, url, out] : {std::tuple{"base", &base, &o.base},
                                std::tuple{"publisher", &publisher, &o.publisher}}) {
    auto parsed = ParseHttpUrl(*url);
    if (!parsed.ok()) Fail(kProgram, parsed.status());
    *out = *parsed;
  }
  if (!origin.empty()) {
    auto parsed = ParseHttpUrl(origin);
    if (!parsed.ok()) Fail(kProgram, parsed.status());
    o.origin = *parsed;
  }
  auto secret = roomcast::base::ReadSecret("ROOMCAST_JWT_SECRET", "");
  if (!secret.ok()) Fail(kProgram, secret.status());
  o.followers = static_cast<size_t>(followers);
  o.threads = static_cast<size_t>(std::min(threads, followers));
  o.follow = {.room = o.room, .manifest_hold = mode == "manifest",
              .stream = mode == "stream", .lead = std::chrono::milliseconds(lead_ms),
              .retry_min = std::chrono::milliseconds(retry_min_ms),
              .retry_max = std::chrono::milliseconds(retry_max_ms)};
  o.jwt_secret = *secret;
  o.post = {.room = o.room,
            .rate_per_s = static_cast<double>(rate),
            .duration = std::chrono::milliseconds(duration_ms)};
  o.settle = std::chrono::milliseconds(settle_ms);
  o.drain = std::chrono::milliseconds(drain_ms);
  return Run(o);
}
