// hold_load: many HTTP clients on one thread, each GETting a URL the server
// holds (an object about to exist), then a release (the PUT that creates the
// object) and how long every held client took to get its answer.
//
//   ROOMCAST_WRITE_SECRET=... hold_load --connections 5000
//       --url http://127.0.0.1:8080/v1/rooms/r/actions/1000/K.pb
//       --release-body seg.pb
//
// Phases: connect and send all N requests (at most --connect-concurrency
// connects in flight, so the listen backlog never overflows); wait
// --settle-ms; print "HELD=<requests with no answer>" and wait for SIGUSR1
// (or --max-wait-ms) so a script can measure the server while they are held;
// PUT --release-body to the URL's path; wait until every client has its
// answer. Results are KEY=VALUE lines on stdout; wake-up latencies run from
// just before the PUT is written to each answer's arrival.
//
// One io_context, one coroutine per connection: the skeleton of the
// follower load generator (issue 7).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "bench/load/http_url.h"
#include "bench/load/latency_histogram.h"

namespace roomcast::bench {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr char kProgram[] = "hold_load";

struct HoldLoadOptions {
  HttpUrl url;
  size_t connections = 5000;
  size_t connect_concurrency = 256;
  std::string release_body;  // empty: wait for the hold limit instead
  std::string secret;
  std::chrono::milliseconds settle{500};
  std::chrono::milliseconds max_wait{20'000};
  std::chrono::milliseconds release_timeout{10'000};
};

// A steady_timer used as a condition: waiters re-check a predicate whenever
// Notify() cancels the wait, or give up at a deadline.
class Condition {
 public:
  explicit Condition(asio::io_context& io) : timer_(io) {}
  void Notify() { timer_.cancel(); }
  template <typename Pred>
  asio::awaitable<bool> WaitUntil(Pred pred, Clock::time_point deadline) {
    while (!pred() && Clock::now() < deadline) {
      timer_.expires_at(deadline);
      co_await timer_.async_wait(kTuple);
    }
    co_return pred();
  }

 private:
  asio::steady_timer timer_;
};

class HoldLoad {
 public:
  HoldLoad(asio::io_context& io, HoldLoadOptions o)
      : io_(io), o_(std::move(o)), changed_(io), signals_(io, SIGUSR1) {}

  asio::awaitable<int> Run();

 private:
  asio::awaitable<void> Connector(tcp::endpoint ep);
  asio::awaitable<void> Follower(beast::tcp_stream stream);
  asio::awaitable<int> Release(tcp::endpoint ep);
  void Answered(int status);
  size_t finished() const { return answered_ + errors_; }

  asio::io_context& io_;
  HoldLoadOptions o_;
  Condition changed_;
  asio::signal_set signals_;
  bool signalled_ = false;
  size_t next_ = 0;       // connections started
  size_t sent_ = 0;       // requests fully written
  size_t answered_ = 0;   // responses read
  size_t errors_ = 0;     // connect, write or read failures
  size_t early_ = 0;      // answered before the release
  std::map<int, size_t> status_after_release_;
  std::map<int, size_t> status_early_;
  std::optional<Clock::time_point> released_at_;
  LatencyHistogram wake_;
};

asio::awaitable<void> HoldLoad::Connector(tcp::endpoint ep) {
  while (next_ < o_.connections) {
    ++next_;
    beast::tcp_stream stream(io_);
    stream.expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_connect(ep, kTuple);
    if (ec) {
      if (errors_++ == 0) std::cerr << kProgram << ": connect: " << ec.message() << "\n";
      changed_.Notify();
      continue;
    }
    asio::co_spawn(io_, Follower(std::move(stream)), asio::detached);
  }
}

asio::awaitable<void> HoldLoad::Follower(beast::tcp_stream stream) {
  bh::request<bh::empty_body> req(bh::verb::get, o_.url.target, 11);
  req.set(bh::field::host, o_.url.authority());
  stream.expires_never();  // the whole run has a deadline instead
  auto [wec, wn] = co_await bh::async_write(stream, req, kTuple);
  if (wec) {
    if (errors_++ == 0) std::cerr << kProgram << ": write: " << wec.message() << "\n";
    changed_.Notify();
    co_return;
  }
  ++sent_;
  changed_.Notify();
  beast::flat_buffer buf;
  bh::response<bh::string_body> res;
  auto [rec, rn] = co_await bh::async_read(stream, buf, res, kTuple);
  if (rec) {
    if (errors_++ == 0) std::cerr << kProgram << ": read: " << rec.message() << "\n";
  } else {
    Answered(res.result_int());
  }
  changed_.Notify();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

void HoldLoad::Answered(int status) {
  ++answered_;
  if (!released_at_) {
    ++early_;
    ++status_early_[status];
    return;
  }
  wake_.Record(Clock::now() - *released_at_);
  ++status_after_release_[status];
}

asio::awaitable<int> HoldLoad::Release(tcp::endpoint ep) {
  beast::tcp_stream stream(io_);
  stream.expires_after(std::chrono::seconds(10));
  if (auto [ec] = co_await stream.async_connect(ep, kTuple); ec) co_return -1;
  std::string path = o_.url.target.substr(0, o_.url.target.find('?'));
  bh::request<bh::string_body> req(bh::verb::put, path, 11);
  req.set(bh::field::host, o_.url.authority());
  req.set(bh::field::authorization, "Bearer " + o_.secret);
  req.set(bh::field::content_type, "application/x-protobuf");
  req.body() = o_.release_body;
  req.prepare_payload();
  released_at_ = Clock::now();
  if (auto [ec, n] = co_await bh::async_write(stream, req, kTuple); ec) co_return -1;
  beast::flat_buffer buf;
  bh::response<bh::string_body> res;
  if (auto [ec, n] = co_await bh::async_read(stream, buf, res, kTuple); ec) co_return -1;
  co_return res.result_int();
}

std::string StatusCounts(const std::map<int, size_t>& m) {
  std::string out;
  for (const auto& [status, n] : m) absl::StrAppend(&out, out.empty() ? "" : ",", status, ":", n);
  return out.empty() ? "-" : out;
}

asio::awaitable<int> HoldLoad::Run() {
  signals_.async_wait([this](const beast::error_code& ec, int) {
    if (!ec) signalled_ = true;
    changed_.Notify();
  });
  const tcp::endpoint ep(asio::ip::make_address(o_.url.host), o_.url.port);
  const auto start = Clock::now();
  for (size_t i = 0; i < std::min(o_.connect_concurrency, o_.connections); ++i) {
    asio::co_spawn(io_, Connector(ep), asio::detached);
  }
  co_await changed_.WaitUntil([&] { return sent_ + errors_ == o_.connections; },
                              start + std::chrono::seconds(60));
  const auto all_sent = Clock::now();
  asio::steady_timer settle(io_, o_.settle);
  co_await settle.async_wait(kTuple);
  const size_t held = sent_ - answered_;
  std::cout << "SEND_MS=" << (all_sent - start) / std::chrono::milliseconds(1)
            << "\nHELD=" << held << "\nEARLY=" << early_
            << "\nEARLY_STATUS=" << StatusCounts(status_early_) << std::endl;

  co_await changed_.WaitUntil([&] { return signalled_; }, Clock::now() + o_.max_wait);
  int put_status = 0;
  if (!o_.release_body.empty()) {
    put_status = co_await Release(ep);
  } else {
    released_at_ = Clock::now();
  }
  const auto put_done = Clock::now();
  co_await changed_.WaitUntil([&] { return finished() == o_.connections; },
                              Clock::now() + o_.release_timeout);
  const auto ms = [](std::chrono::nanoseconds d) {
    return absl::StrFormat("%.2f", static_cast<double>(d.count()) / 1e6);
  };
  const size_t ok = status_after_release_.contains(200) ? status_after_release_[200] : 0;
  std::cout << "PUT_STATUS=" << put_status
            << "\nPUT_MS=" << ms(put_done - *released_at_)
            << "\nWOKEN=" << wake_.count() << "\nWOKEN_200=" << ok
            << "\nWOKEN_STATUS=" << StatusCounts(status_after_release_)
            << "\nERRORS=" << errors_
            << "\nUNFINISHED=" << o_.connections - finished()
            << "\nWAKE_P50_MS=" << ms(wake_.Percentile(0.5))
            << "\nWAKE_P99_MS=" << ms(wake_.Percentile(0.99))
            << "\nWAKE_MAX_MS=" << ms(wake_.max()) << std::endl;
  std::cerr << kProgram << ": " << o_.connections << " connections, " << held
            << " held, woken: " << wake_.Summary() << std::endl;
  const bool all_ok = held == o_.connections && ok == o_.connections;
  co_return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace roomcast::bench

int main(int argc, char** argv) {
  using roomcast::base::Fail;
  using namespace roomcast::bench;
  std::string url;
  std::string release_body_file;
  int64_t connections = 5000, concurrency = 256, settle_ms = 500, max_wait_ms = 20000,
          release_timeout_ms = 10000;
  roomcast::base::FlagSet flags(
      kProgram, "--url URL --connections N [--release-body FILE]",
      "Holds N requests for a URL the server holds, then PUTs the object and\n"
      "measures how long each held client takes to get it. The write secret\n"
      "comes from ROOMCAST_WRITE_SECRET. Exit 0 if all N were held and got 200.");
  flags.String("url", &url, "the URL to GET, http://HOST:PORT/PATH (an IP address)");
  flags.Int("connections", &connections, "clients, one request each");
  flags.Int("connect-concurrency", &concurrency, "connects in flight at once");
  flags.String("release-body", &release_body_file,
               "body to PUT at the URL's path to release the holds; none: wait "
               "for the server's hold limit");
  flags.Int("settle-ms", &settle_ms, "wait after the last request before counting held");
  flags.Int("max-wait-ms", &max_wait_ms, "release after this long without SIGUSR1");
  flags.Int("release-timeout-ms", &release_timeout_ms,
            "give up on answers this long after the release");
  flags.Require("url");
  flags.ParseOrExit(argc, argv);
  if (connections < 1 || concurrency < 1) {
    std::cerr << kProgram << ": --connections and --connect-concurrency must be >= 1\n";
    return 2;
  }
  HoldLoadOptions o;
  auto parsed = ParseHttpUrl(url);
  if (!parsed.ok()) Fail(kProgram, parsed.status());
  o.url = *parsed;
  o.connections = static_cast<size_t>(connections);
  o.connect_concurrency = static_cast<size_t>(concurrency);
  o.settle = std::chrono::milliseconds(settle_ms);
  o.max_wait = std::chrono::milliseconds(max_wait_ms);
  o.release_timeout = std::chrono::milliseconds(release_timeout_ms);
  if (!release_body_file.empty()) {
    std::ifstream in(release_body_file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) Fail(kProgram, absl::NotFoundError("cannot read " + release_body_file));
    o.release_body = ss.str();
    auto secret = roomcast::base::ReadSecret("ROOMCAST_WRITE_SECRET", "");
    if (!secret.ok()) Fail(kProgram, secret.status());
    o.secret = *secret;
  }
  boost::asio::io_context io(1);
  HoldLoad load(io, std::move(o));
  int rc = 1;
  boost::asio::co_spawn(io, load.Run(), [&](std::exception_ptr e, int r) {
    rc = e ? 1 : r;
    io.stop();  // drops any connection still open
  });
  io.run();
  return rc;
}
