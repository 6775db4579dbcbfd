#include "bench/load/follower.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::bench {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One follower's walk through a room.
class FollowerRun {
 public:
  FollowerRun(HttpConnection& conn, const FollowOptions& o, RunControl& control,
              FollowStats& stats, FollowerRecord& rec)
      : conn_(conn), o_(o), control_(control), stats_(stats), rec_(rec) {}

  asio::awaitable<void> Run();

 private:
  // GETs `target` until a 200 (asking again after a "not yet" 404 or an
  // error); nullopt once the run stops or on a "never" 404.
  asio::awaitable<std::optional<HttpReply>> Fetch(const std::string& target);
  asio::awaitable<void> Pause(milliseconds d);
  asio::awaitable<void> BucketHold(int64_t d);
  asio::awaitable<void> ManifestHold(v1::Manifest m);
  // Decodes a segment body; false if it does not parse.
  bool Deliver(const std::string& body, int64_t recv_ns, v1::ActionSegment* seg);
  void See(uint64_t seq);

  HttpConnection& conn_;
  const FollowOptions& o_;
  RunControl& control_;
  FollowStats& stats_;
  FollowerRecord& rec_;
};

asio::awaitable<void> FollowerRun::Pause(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<std::optional<HttpReply>> FollowerRun::Fetch(const std::string& target) {
  thread_local std::minstd_rand rng(std::random_device{}());
  milliseconds backoff = o_.retry_max;
  while (!control_.stop.load(std::memory_order_relaxed)) {
    absl::StatusOr<HttpReply> r = co_await conn_.Get(target);
    ++stats_.requests;
    if (r.ok() && r->status == 200) co_return *std::move(r);
    if (r.ok() && r->status == 404 && r->max_age_s >= 0 && r->max_age_s < 10) {
      ++stats_.not_yet;
      std::uniform_int_distribution<int64_t> pause(o_.retry_min.count(),
                                                   o_.retry_max.count());
      co_await Pause(milliseconds(pause(rng)));
      continue;
    }
    if (stats_.errors++ < 3) {
      std::cerr << "followers: GET " << target << ": "
                << (r.ok() ? absl::StrCat("HTTP ", r->status, " ", r->cache_status, " ",
                                          r->body.substr(0, 120))
                           : r.status().ToString())
                << "\n";
    }
    if (r.ok() && r->status == 404) co_return std::nullopt;  // "never"
    co_await Pause(backoff);
    backoff = std::min<milliseconds>(backoff * 2, milliseconds(2000));
  }
  co_return std::nullopt;
}

void FollowerRun::See(uint64_t seq) {
  if (rec_.count == 0) {
    rec_.first_seq = seq;
  } else if (seq <= rec_.last_seq) {
    ++stats_.duplicates;
    ++rec_.faults;
    return;
  } else if (seq > rec_.last_seq + 1) {
    stats_.gaps += seq - rec_.last_seq - 1;
    ++rec_.faults;
  }
  rec_.last_seq = seq;
  ++rec_.count;
}

bool FollowerRun::Deliver(const std::string& body, int64_t recv_ns,
                          v1::ActionSegment* seg) {
  if (!seg->ParseFromString(body)) {
    ++stats_.errors;
    return false;
  }
  ++stats_.segments;
  if (seg->messages().empty()) ++stats_.empty_segments;
  for (const v1::Message& m : seg->messages()) {
    stats_.latency.Record(std::chrono::nanoseconds(recv_ns - m.ts_ms() * 1'000'000));
    ++stats_.messages;
    See(m.seq());
  }
  return true;
}

asio::awaitable<void> FollowerRun::BucketHold(int64_t d) {
  // Same host as the publisher: the local clock is the server's.
  int64_t k = segmenter::BucketIndex(WallNowNs() / 1'000'000, d);
  for (;;) {
    std::optional<HttpReply> r = co_await Fetch(segmenter::SegmentPath(o_.room, d, k));
    const int64_t recv_ns = WallNowNs();
    if (!r) break;
    v1::ActionSegment seg;
    if (Deliver(r->body, recv_ns, &seg) && seg.index() != k) ++stats_.errors;
    stats_.after_close.Record(
        std::chrono::nanoseconds(recv_ns - segmenter::BucketEnd(k, d) * 1'000'000));
    if (k >= control_.last_bucket.load()) {
      rec_.finished = true;
      break;
    }
    ++k;
  }
}

asio::awaitable<void> FollowerRun::ManifestHold(v1::Manifest m) {
  const int64_t d = m.config().bucket_ms();
  // Only what is accepted after the join is this follower's to see.
  uint64_t cursor = m.last_seq();
  const std::string base = segmenter::ManifestPath(o_.room);
  while (rec_.count == 0 || rec_.last_seq < control_.last_seq.load()) {
    std::optional<HttpReply> r =
        co_await Fetch(absl::StrCat(base, "?after=", m.version()));
    if (!r) co_return;
    v1::Manifest next;
    if (!next.ParseFromString(r->body)) {
      ++stats_.errors;
      continue;
    }
    ++stats_.manifests;
    if (next.version() <= m.version()) {
      // The hold ran out (a quiet room). The cache keeps that answer for its
      // max-age: pause rather than spin on it.
      co_await Pause(o_.retry_max);
      continue;
    }
    m = std::move(next);
    for (const v1::SegmentRef& ref : m.recent_segments()) {
      if (ref.last_seq() <= cursor) continue;
      // The manifest lists only recent segments: one that starts past the
      // cursor means an earlier one fell off the list unseen (a gap below).
      std::optional<HttpReply> s =
          co_await Fetch(segmenter::SegmentPath(o_.room, d, ref.index()));
      const int64_t recv_ns = WallNowNs();
      if (!s) co_return;
      v1::ActionSegment seg;
      if (Deliver(s->body, recv_ns, &seg)) cursor = std::max(cursor, seg.last_seq());
    }
  }
  rec_.finished = true;
}

asio::awaitable<void> FollowerRun::Run() {
  std::optional<HttpReply> r = co_await Fetch(segmenter::ManifestPath(o_.room));
  v1::Manifest m;
  if (r && !m.ParseFromString(r->body)) ++stats_.errors;
  control_.joined.fetch_add(1);
  if (r && m.config().bucket_ms() > 0) {
    if (o_.manifest_hold) {
      co_await ManifestHold(std::move(m));
    } else {
      co_await BucketHold(m.config().bucket_ms());
    }
  }
  control_.finished.fetch_add(1);
}

}  // namespace

void FollowStats::Merge(const FollowStats& o) {
  latency.Merge(o.latency);
  after_close.Merge(o.after_close);
  messages += o.messages;
  segments += o.segments;
  empty_segments += o.empty_segments;
  manifests += o.manifests;
  requests += o.requests;
  not_yet += o.not_yet;
  errors += o.errors;
  gaps += o.gaps;
  duplicates += o.duplicates;
}

asio::awaitable<void> Follow(HttpConnection& conn, const FollowOptions& o,
                             RunControl& control, FollowStats& stats,
                             FollowerRecord& rec) {
  FollowerRun run(conn, o, control, stats, rec);
  co_await run.Run();
}

}  // namespace roomcast::bench
