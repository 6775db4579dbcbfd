// nchan_subscribers: the push-server reference for DESIGN §9 (issue 7, item
// 2b). N subscribers follow one nchan channel while a publisher posts
// messages at a fixed rate; reports delivery latency (publisher's POST sent
// -> message read by a subscriber), whether every subscriber got every
// acked message exactly once, and the publisher's ack latency.
//
//   nchan_subscribers --base http://127.0.0.1:8000 --channel room
//       --subscribers 2000 --mode longpoll --rate 20 --duration-ms 20000
//
// Subscribers (--mode):
//   longpoll   GET /sub/CHANNEL, one message per answer; each request sends
//              back the previous answer's Last-Modified and Etag as
//              If-Modified-Since / If-None-Match, so nchan answers with the
//              next message after it (none missed, none repeated); a 408
//              (nchan_subscriber_timeout) is re-asked with the same headers.
//   websocket  GET /ws/CHANNEL upgraded; every message is one frame.
// The publisher POSTs to /pub/CHANNEL one message every 1/--rate s, each
// "seq=N sent_ns=T " padded to --body-bytes (T: this process's steady clock
// when the POST is written). As bench/load/poster does for roomcast, a post
// slow to be acked does not delay the next: each goes out on an idle
// keep-alive connection, or a new one.
//
// Phases: connect all subscribers (at most --connect-concurrency connects in
// flight) and wait --settle-ms; print PHASE=ready; with --wait-signal, wait
// for SIGUSR1 (so a script can read the server's CPU); post for
// --duration-ms; wait until every subscriber has every acked message (or
// --drain-ms); print PHASE=delivered; with --wait-signal, wait for SIGUSR1
// again; then KEY=VALUE lines on stdout, connections still open (closing
// them is not part of delivering messages). Exit 0 if every subscriber got
// every acked message exactly once and nothing failed. Order is reported
// (OUT_OF_ORDER: a message read after one posted later) but is not a fault:
// two posts in flight on two connections may reach nchan either way round.
//
// One thread, one io_context, one coroutine per subscriber.
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/flags.h"
#include "bench/load/http_url.h"
#include "bench/load/latency_histogram.h"

namespace roomcast::bench {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
namespace ws = boost::beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr char kProgram[] = "nchan_subscribers";

enum class Mode { kLongPoll, kWebSocket };

struct Options {
  HttpUrl base;
  std::string channel = "room";
  Mode mode = Mode::kLongPoll;
  size_t subscribers = 100;
  size_t connect_concurrency = 256;
  int64_t rate = 20;
  size_t body_bytes = 120;
  bool wait_signal = false;
  milliseconds duration{20'000}, settle{1'000}, drain{5'000}, max_wait{30'000},
      connect_timeout{60'000};
};

// What one subscriber has seen, by the publisher's sequence numbers.
struct Subscriber {
  std::vector<uint8_t> seen;  // by seq: times read (saturating)
  uint64_t received = 0;      // messages read for the first time
  uint64_t duplicates = 0;    // messages read again
  uint64_t out_of_order = 0;  // read after a later seq
  uint64_t max_seq_plus_1 = 0;
  bool ready = false;
  bool failed = false;
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

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// "seq=N sent_ns=T ..." -> (N, T).
bool ParseBody(absl::string_view body, uint64_t* seq, int64_t* sent_ns) {
  if (!absl::ConsumePrefix(&body, "seq=")) return false;
  size_t sp = body.find(' ');
  if (sp == absl::string_view::npos || !absl::SimpleAtoi(body.substr(0, sp), seq)) return false;
  body.remove_prefix(sp + 1);
  if (!absl::ConsumePrefix(&body, "sent_ns=")) return false;
  sp = body.find(' ');
  return absl::SimpleAtoi(body.substr(0, sp), sent_ns);
}

class NchanLoad {
 public:
  NchanLoad(asio::io_context& io, Options o)
      : io_(io), o_(std::move(o)), subs_(o_.subscribers), changed_(io),
        signals_(io, SIGUSR1) {}

  asio::awaitable<int> Run();

 private:
  asio::awaitable<void> Connector(tcp::endpoint ep);
  asio::awaitable<void> LongPoll(beast::tcp_stream stream, Subscriber& s);
  asio::awaitable<void> WebSocket(beast::tcp_stream stream, Subscriber& s);
  asio::awaitable<void> Publish(tcp::endpoint ep);
  asio::awaitable<void> PostOne(tcp::endpoint ep, uint64_t seq, Clock::time_point slot);
  asio::awaitable<void> PostOneOn(tcp::endpoint ep, uint64_t seq, Clock::time_point slot);
  asio::awaitable<void> WaitForSignal(uint64_t n);
  void ArmSignal();
  void Ready(Subscriber& s);
  void Fail(Subscriber& s, absl::string_view what, const beast::error_code& ec);
  void OnMessage(Subscriber& s, absl::string_view body, Clock::time_point at);
  std::string Target(absl::string_view prefix) const {
    return absl::StrCat(prefix, o_.channel);
  }

  asio::io_context& io_;
  Options o_;
  std::vector<Subscriber> subs_;  // never resized: coroutines hold references
  Condition changed_;
  asio::signal_set signals_;
  uint64_t signalled_ = 0;
  bool stopping_ = false;

  size_t next_ = 0;        // subscribers started
  size_t ready_ = 0;       // subscribed (longpoll: first request written)
  size_t failed_ = 0;      // subscribers that stopped on an error
  uint64_t errors_ = 0;    // connect / read / write / unexpected-status failures
  uint64_t requests_ = 0;  // long-poll requests written
  uint64_t timeouts_ = 0;  // long-poll 408s (nchan_subscriber_timeout)
  std::map<int, uint64_t> bad_status_;
  uint64_t unique_ = 0;    // first-time deliveries over all subscribers
  uint64_t frames_ = 0;    // every message read, repeats included
  uint64_t unparsed_ = 0;
  uint64_t posted_ = 0;    // POSTs acked 201/202
  std::vector<bool> acked_;  // by seq
  uint64_t post_errors_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t behind_schedule_ = 0;  // written > 10 ms after its slot
  uint64_t post_connections_ = 0;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle_;  // publisher's keep-alive pool
  std::map<int, uint64_t> post_status_;
  LatencyHistogram latency_, ack_;
};

void NchanLoad::ArmSignal() {
  signals_.async_wait([this](const beast::error_code& ec, int) {
    if (ec) return;
    ++signalled_;
    changed_.Notify();
    ArmSignal();
  });
}

asio::awaitable<void> NchanLoad::WaitForSignal(uint64_t n) {
  if (!o_.wait_signal) co_return;
  if (!co_await changed_.WaitUntil([&] { return signalled_ >= n; },
                                   Clock::now() + o_.max_wait)) {
    std::cerr << kProgram << ": no SIGUSR1 within " << o_.max_wait.count()
              << " ms, going on\n";
  }
}

void NchanLoad::Ready(Subscriber& s) {
  if (s.ready) return;
  s.ready = true;
  ++ready_;
  changed_.Notify();
}

void NchanLoad::Fail(Subscriber& s, absl::string_view what, const beast::error_code& ec) {
  if (stopping_) return;
  if (errors_++ == 0) std::cerr << kProgram << ": " << what << ": " << ec.message() << "\n";
  if (!s.failed) {
    s.failed = true;
    ++failed_;
  }
  changed_.Notify();
}

void NchanLoad::OnMessage(Subscriber& s, absl::string_view body, Clock::time_point at) {
  ++frames_;
  uint64_t seq = 0;
  int64_t sent_ns = 0;
  if (!ParseBody(body, &seq, &sent_ns)) {
    if (unparsed_++ == 0) std::cerr << kProgram << ": unexpected message '" << body << "'\n";
    return;
  }
  if (seq >= 1'000'000'000) {
    ++unparsed_;
    return;
  }
  if (s.seen.size() <= seq) s.seen.resize(seq + 1, 0);
  if (s.seen[seq] != 0) {
    ++s.duplicates;
    if (s.seen[seq] < 255) ++s.seen[seq];
    return;
  }
  s.seen[seq] = 1;
  if (seq + 1 < s.max_seq_plus_1) ++s.out_of_order;
  s.max_seq_plus_1 = std::max(s.max_seq_plus_1, seq + 1);
  ++s.received;
  ++unique_;
  latency_.Record(at.time_since_epoch() - std::chrono::nanoseconds(sent_ns));
}

asio::awaitable<void> NchanLoad::Connector(tcp::endpoint ep) {
  while (next_ < o_.subscribers) {
    Subscriber& s = subs_[next_++];
    beast::tcp_stream stream(io_);
    stream.expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_connect(ep, kTuple);
    if (ec) {
      Fail(s, "connect", ec);
      continue;
    }
    stream.expires_never();  // the run has its own deadlines
    if (o_.mode == Mode::kLongPoll) {
      asio::co_spawn(io_, LongPoll(std::move(stream), s), asio::detached);
    } else {
      // The handshake is part of connecting: keep at most
      // --connect-concurrency of them in flight too.
      co_await WebSocket(std::move(stream), s);
    }
  }
}

asio::awaitable<void> NchanLoad::LongPoll(beast::tcp_stream stream, Subscriber& s) {
  bh::request<bh::empty_body> req(bh::verb::get, Target("/sub/"), 11);
  req.set(bh::field::host, o_.base.authority());
  beast::flat_buffer buf;
  while (true) {
    auto [wec, wn] = co_await bh::async_write(stream, req, kTuple);
    if (wec) co_return Fail(s, "long-poll write", wec);
    ++requests_;
    Ready(s);
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(1 << 20);
    auto [rec, rn] = co_await bh::async_read(stream, buf, parser, kTuple);
    if (rec) co_return Fail(s, "long-poll read", rec);
    const auto at = Clock::now();
    const auto& res = parser.get();
    // nchan names the message just answered (or, on a 408, the last one the
    // request knew): the next request asks for the one after it.
    if (auto it = res.find(bh::field::last_modified); it != res.end()) {
      req.set(bh::field::if_modified_since, it->value());
    }
    if (auto it = res.find(bh::field::etag); it != res.end()) {
      req.set(bh::field::if_none_match, it->value());
    }
    switch (res.result_int()) {
      case 200:
        OnMessage(s, res.body(), at);
        break;
      case 304:
      case 408:
        ++timeouts_;
        break;
      default:
        ++bad_status_[res.result_int()];
        co_return Fail(s, absl::StrCat("long-poll status ", res.result_int()),
                       beast::error_code());
    }
    if (!res.keep_alive()) {
      co_return Fail(s, "long-poll answer closed the connection", beast::error_code());
    }
  }
}

asio::awaitable<void> NchanLoad::WebSocket(beast::tcp_stream stream, Subscriber& s) {
  auto ws = std::make_unique<ws::stream<beast::tcp_stream>>(std::move(stream));
  ws->set_option(ws::stream_base::timeout::suggested(beast::role_type::client));
  ws->read_message_max(1 << 20);
  auto [hec] = co_await ws->async_handshake(o_.base.authority(), Target("/ws/"), kTuple);
  if (hec) co_return Fail(s, "websocket handshake", hec);
  Ready(s);
  // Reads on its own coroutine so the connector can go on to the next one.
  asio::co_spawn(
      io_,
      [this, &s, ws = std::move(ws)]() -> asio::awaitable<void> {
        beast::flat_buffer buf;
        while (true) {
          auto [ec, n] = co_await ws->async_read(buf, kTuple);
          if (ec) co_return Fail(s, "websocket read", ec);
          OnMessage(s, beast::buffers_to_string(buf.data()), Clock::now());
          buf.consume(buf.size());
        }
      },
      asio::detached);
}

asio::awaitable<void> NchanLoad::Publish(tcp::endpoint ep) {
  const auto period = std::chrono::nanoseconds(1'000'000'000 / o_.rate);
  const auto start = Clock::now();
  const auto end = start + o_.duration;
  asio::steady_timer timer(io_);
  for (uint64_t seq = 0;; ++seq) {
    const auto slot = start + seq * period;
    if (slot >= end) break;
    timer.expires_at(slot);
    co_await timer.async_wait(kTuple);
    ++in_flight_;
    asio::co_spawn(io_, PostOne(ep, seq, slot), asio::detached);
  }
  co_await changed_.WaitUntil([&] { return in_flight_ == 0; },
                              Clock::now() + std::chrono::seconds(10));
}

asio::awaitable<void> NchanLoad::PostOne(tcp::endpoint ep, uint64_t seq,
                                         Clock::time_point slot) {
  co_await PostOneOn(ep, seq, slot);
  --in_flight_;
  changed_.Notify();
}

asio::awaitable<void> NchanLoad::PostOneOn(tcp::endpoint ep, uint64_t seq,
                                           Clock::time_point slot) {
  std::unique_ptr<beast::tcp_stream> stream;
  if (!idle_.empty()) {
    stream = std::move(idle_.back());
    idle_.pop_back();
  } else {
    stream = std::make_unique<beast::tcp_stream>(io_);
    stream->expires_after(std::chrono::seconds(10));
    if (auto [ec] = co_await stream->async_connect(ep, kTuple); ec) {
      ++post_errors_;
      std::cerr << kProgram << ": publish " << seq << ": connect: " << ec.message() << "\n";
      co_return;
    }
    ++post_connections_;
  }
  bh::request<bh::string_body> req(bh::verb::post, Target("/pub/"), 11);
  req.set(bh::field::host, o_.base.authority());
  req.set(bh::field::content_type, "text/plain");
  const auto sent = Clock::now();
  if (sent - slot > milliseconds(10)) ++behind_schedule_;
  std::string body = absl::StrCat("seq=", seq, " sent_ns=",
                                  std::chrono::nanoseconds(sent.time_since_epoch()).count(), " ");
  if (body.size() < o_.body_bytes) body.resize(o_.body_bytes, 'x');
  req.body() = std::move(body);
  req.prepare_payload();
  stream->expires_after(std::chrono::seconds(10));
  auto [wec, wn] = co_await bh::async_write(*stream, req, kTuple);
  beast::flat_buffer buf;
  bh::response<bh::string_body> res;
  beast::error_code rec = wec;
  if (!wec) std::tie(rec, std::ignore) = co_await bh::async_read(*stream, buf, res, kTuple);
  if (rec) {
    ++post_errors_;
    std::cerr << kProgram << ": publish " << seq << ": " << rec.message() << "\n";
    co_return;
  }
  ack_.Record(Clock::now() - sent);
  ++post_status_[res.result_int()];
  if (res.result_int() == 201 || res.result_int() == 202) {
    ++posted_;
    if (acked_.size() <= seq) acked_.resize(seq + 1, false);
    acked_[seq] = true;
  } else {
    ++post_errors_;
    std::cerr << kProgram << ": publish " << seq << ": status " << res.result_int() << "\n";
  }
  if (res.keep_alive() && buf.size() == 0) idle_.push_back(std::move(stream));
}

std::string Counts(const std::map<int, uint64_t>& m) {
  std::string out;
  for (const auto& [k, n] : m) absl::StrAppend(&out, out.empty() ? "" : ",", k, ":", n);
  return out.empty() ? "-" : out;
}

std::string Ms(std::chrono::nanoseconds d) {
  return absl::StrFormat("%.2f", static_cast<double>(d.count()) / 1e6);
}

asio::awaitable<int> NchanLoad::Run() {
  ArmSignal();
  const tcp::endpoint ep(asio::ip::make_address(o_.base.host), o_.base.port);
  const auto start = Clock::now();
  for (size_t i = 0; i < std::min(o_.connect_concurrency, o_.subscribers); ++i) {
    asio::co_spawn(io_, Connector(ep), asio::detached);
  }
  co_await changed_.WaitUntil([&] { return ready_ + failed_ >= o_.subscribers; },
                              start + o_.connect_timeout);
  const auto connected = Clock::now();
  asio::steady_timer timer(io_, o_.settle);
  co_await timer.async_wait(kTuple);
  std::cout << "CONNECT_MS=" << (connected - start) / milliseconds(1)
            << "\nREADY=" << ready_ << "\nPHASE=ready" << std::endl;
  co_await WaitForSignal(1);

  const double cpu0 = CpuSeconds();
  const uint64_t timeouts0 = timeouts_;
  std::cout << "PHASE=posting" << std::endl;
  co_await Publish(ep);
  const auto posted_at = Clock::now();
  // Every subscriber still connected should get every acked message.
  const auto all_delivered = [&] { return unique_ >= posted_ * (o_.subscribers - failed_); };
  while (!all_delivered() && Clock::now() < posted_at + o_.drain) {
    timer.expires_after(milliseconds(5));
    co_await timer.async_wait(kTuple);
  }
  const auto drained_at = Clock::now();
  const double cpu1 = CpuSeconds();
  std::cout << "PHASE=delivered" << std::endl;
  co_await WaitForSignal(2);
  stopping_ = true;

  size_t exact = 0;
  uint64_t missing = 0, duplicates = 0, out_of_order = 0;
  for (const Subscriber& s : subs_) {
    uint64_t s_missing = 0;
    for (size_t seq = 0; seq < acked_.size(); ++seq) {
      if (acked_[seq] && (seq >= s.seen.size() || s.seen[seq] == 0)) ++s_missing;
    }
    missing += s_missing;
    duplicates += s.duplicates;
    out_of_order += s.out_of_order;
    if (!s.failed && s_missing == 0 && s.duplicates == 0) ++exact;
  }
  std::cout << "SUBSCRIBERS=" << o_.subscribers
            << "\nMODE=" << (o_.mode == Mode::kLongPoll ? "longpoll" : "websocket")
            << "\nPOSTED=" << posted_ << "\nPOST_ERRORS=" << post_errors_
            << "\nPOST_STATUS=" << Counts(post_status_)
            << "\nEXPECTED=" << posted_ * o_.subscribers << "\nDELIVERED=" << unique_
            << "\nFRAMES=" << frames_ << "\nEXACT=" << exact << "\nMISSING=" << missing
            << "\nDUPLICATES=" << duplicates << "\nOUT_OF_ORDER=" << out_of_order
            << "\nUNPARSED=" << unparsed_
            << "\nFAILED=" << failed_ << "\nERRORS=" << errors_
            << "\nBAD_STATUS=" << Counts(bad_status_) << "\nREQUESTS=" << requests_
            << "\nTIMEOUTS_408=" << timeouts_ - timeouts0
            << "\nLATENCY_P50_MS=" << Ms(latency_.Percentile(0.5))
            << "\nLATENCY_P90_MS=" << Ms(latency_.Percentile(0.9))
            << "\nLATENCY_P99_MS=" << Ms(latency_.Percentile(0.99))
            << "\nLATENCY_MAX_MS=" << Ms(latency_.max())
            << "\nACK_P50_MS=" << Ms(ack_.Percentile(0.5))
            << "\nACK_P99_MS=" << Ms(ack_.Percentile(0.99))
            << "\nPOST_BEHIND_SCHEDULE=" << behind_schedule_
            << "\nPOST_CONNECTIONS=" << post_connections_
            << "\nDRAIN_MS=" << Ms(drained_at - posted_at)
            << "\nCLIENT_CPU_S=" << absl::StrFormat("%.2f", cpu1 - cpu0) << std::endl;
  std::cerr << kProgram << ": " << o_.subscribers << " subscribers, " << posted_
            << " messages, exact " << exact << ", latency " << latency_.Summary() << std::endl;
  const bool ok = exact == o_.subscribers && post_errors_ == 0 && errors_ == 0 && unparsed_ == 0;
  co_return ok ? 0 : 1;
}

}  // namespace
}  // namespace roomcast::bench

int main(int argc, char** argv) {
  using roomcast::base::Fail;
  using namespace roomcast::bench;
  std::string base, mode = "longpoll";
  Options o;
  int64_t subscribers = 100, concurrency = 256, body_bytes = 120;
  int64_t duration_ms = 20000, settle_ms = 1000, drain_ms = 5000, max_wait_ms = 30000;
  roomcast::base::FlagSet flags(
      kProgram, "--base URL --subscribers N [--mode longpoll|websocket]",
      "N subscribers follow an nchan channel (long-poll or WebSocket) while a\n"
      "publisher posts --rate messages/s; prints delivery latency and whether\n"
      "each subscriber got every message exactly once. Exit 0 if all did.");
  flags.String("base", &base, "nchan server, http://HOST:PORT (an IP address)");
  flags.String("channel", &o.channel, "channel: /pub/CHANNEL, /sub/CHANNEL, /ws/CHANNEL");
  flags.String("mode", &mode, "longpoll or websocket");
  flags.Int("subscribers", &subscribers, "subscribers, one connection each");
  flags.Int("connect-concurrency", &concurrency, "connects in flight at once");
  flags.Int("rate", &o.rate, "messages posted per second");
  flags.Int("duration-ms", &duration_ms, "how long to post");
  flags.Int("body-bytes", &body_bytes, "message size (padded)");
  flags.Int("settle-ms", &settle_ms, "wait after the last subscriber connected");
  flags.Int("drain-ms", &drain_ms, "after the last post, wait at most this for deliveries");
  flags.Bool("wait-signal", &o.wait_signal,
             "after PHASE=ready and PHASE=delivered, wait for SIGUSR1");
  flags.Int("max-wait-ms", &max_wait_ms, "go on after this long without SIGUSR1");
  flags.Require("base");
  flags.ParseOrExit(argc, argv);
  if (subscribers < 1 || concurrency < 1 || o.rate < 1 || o.rate > 100000 || duration_ms < 1) {
    std::cerr << kProgram << ": --subscribers, --connect-concurrency, --rate and "
                 "--duration-ms must be >= 1 (rate <= 100000)\n";
    return 2;
  }
  if (mode == "longpoll") {
    o.mode = Mode::kLongPoll;
  } else if (mode == "websocket") {
    o.mode = Mode::kWebSocket;
  } else {
    std::cerr << kProgram << ": --mode must be longpoll or websocket\n";
    return 2;
  }
  auto parsed = ParseHttpUrl(base);
  if (!parsed.ok()) Fail(kProgram, parsed.status());
  o.base = *parsed;
  o.subscribers = static_cast<size_t>(subscribers);
  o.connect_concurrency = static_cast<size_t>(concurrency);
  o.body_bytes = static_cast<size_t>(std::max<int64_t>(body_bytes, 0));
  o.duration = milliseconds(duration_ms);
  o.settle = milliseconds(settle_ms);
  o.drain = milliseconds(drain_ms);
  o.max_wait = milliseconds(max_wait_ms);
  boost::asio::io_context io(1);
  NchanLoad load(io, std::move(o));
  int rc = 1;
  boost::asio::co_spawn(io, load.Run(), [&](std::exception_ptr e, int r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::cerr << kProgram << ": " << ex.what() << "\n";
      }
    }
    rc = e ? 1 : r;
    io.stop();  // drops every connection still open
  });
  io.run();
  return rc;
}
