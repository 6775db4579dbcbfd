#include "bench/load/follower.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/internal/segment_stream.h"
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
  FollowerRun(HttpConnection& conn, HttpConnection* next, const FollowOptions& o,
              RunControl& control, FollowStats& stats, FollowerRecord& rec)
      : conn_(conn), next_(next), o_(o), control_(control), stats_(stats), rec_(rec) {}

  asio::awaitable<void> Run();

 private:
  // GETs `target` until a 200 (asking again after a "not yet" 404 or an
  // error); nullopt once the run stops or on a "never" 404.
  asio::awaitable<std::optional<HttpReply>> Fetch(const std::string& target);
  asio::awaitable<void> Pause(milliseconds d);
  asio::awaitable<void> BucketHold(int64_t d);
  asio::awaitable<void> ManifestHold(v1::Manifest m);
  asio::awaitable<void> StreamHold(int64_t d);
  // Reads bucket k to its end on `conn`, asking again after a "not yet" or
  // a stream cut short; false once the run stops or on a "never" 404.
  asio::awaitable<bool> StreamBucket(HttpConnection& conn, int64_t d, int64_t k);
  // Counts one streamed record unless its bucket's stream gave it before.
  void SeeStreamed(const v1::Message& m, int64_t recv_ns, int64_t bucket_start_ms,
                   uint64_t* last_in_bucket);
  void Completed(int64_t k);
  // Every bucket up to the run's last is read: the follower is finished.
  void CheckFinished();
  void LogError(const std::string& target, const absl::Status& st);
  // Decodes a segment body; false if it does not parse.
  bool Deliver(const std::string& body, int64_t recv_ns, v1::ActionSegment* seg);
  void See(uint64_t seq);

  HttpConnection& conn_;
  HttpConnection* next_;
  const FollowOptions& o_;
  RunControl& control_;
  FollowStats& stats_;
  FollowerRecord& rec_;
  // Stream mode: buckets complete in order up to done_through_, and the
  // ones completed past it.
  int64_t done_through_ = 0;
  std::set<int64_t> done_past_;
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
    if (control_.measuring.load(std::memory_order_relaxed)) ++stats_.window_requests;
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
  if (seg->last_seq() == 0) ++stats_.empty_segments;  // notices only, or nothing
  for (const v1::Message& m : seg->messages()) {
    if (m.seq() == 0) continue;  // a notice (DESIGN §10): not a message
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

void FollowerRun::LogError(const std::string& target, const absl::Status& st) {
  if (stats_.errors++ < 3) std::cerr << "followers: GET " << target << ": " << st << "\n";
}

void FollowerRun::SeeStreamed(const v1::Message& m, int64_t recv_ns, int64_t bucket_start_ms,
                              uint64_t* last_in_bucket) {
  if (m.seq() == 0) return;  // a notice (DESIGN §10): not a message
  // A stream asked again starts from the bucket's first record.
  if (m.seq() <= *last_in_bucket) {
    ++stats_.resent;
    return;
  }
  *last_in_bucket = m.seq();
  const std::chrono::nanoseconds latency(recv_ns - m.ts_ms() * 1'000'000);
  stats_.latency.Record(latency);
  (m.ts_ms() - bucket_start_ms < FollowStats::kEarlyMs ? stats_.latency_early
                                                       : stats_.latency_later)
      .Record(latency);
  ++stats_.messages;
  // Two buckets may stream at once, so seqs can arrive across buckets out
  // of order: each is counted once (by bucket), the run checks the range.
  rec_.first_seq = rec_.count == 0 ? m.seq() : std::min(rec_.first_seq, m.seq());
  rec_.last_seq = std::max(rec_.last_seq, m.seq());
  ++rec_.count;
}

void FollowerRun::Completed(int64_t k) {
  done_past_.insert(k);
  while (!done_past_.empty() && *done_past_.begin() <= done_through_ + 1) {
    done_through_ = std::max(done_through_, *done_past_.begin());
    done_past_.erase(done_past_.begin());
  }
  CheckFinished();
}

void FollowerRun::CheckFinished() {
  if (done_through_ >= control_.last_bucket.load() && !rec_.finished) {
    rec_.finished = true;
    control_.finished.fetch_add(1);
  }
}

asio::awaitable<bool> FollowerRun::StreamBucket(HttpConnection& conn, int64_t d,
                                                int64_t k) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const std::string target = segmenter::SegmentPath(o_.room, d, k);
  milliseconds backoff = o_.retry_max;
  uint64_t last_in_bucket = 0;
  int cuts = 0;
  while (!control_.stop.load(std::memory_order_relaxed)) {
    client::internal::SegmentStream reader;  // the client's own progressive reader
    const auto on_body = [&](absl::string_view bytes) {
      return reader.Feed(bytes, [&](const v1::Message& m) {
        SeeStreamed(m, WallNowNs(), segmenter::BucketStart(k, d), &last_in_bucket);
      });
    };
    absl::StatusOr<HttpReply> r = co_await conn.Stream(target, on_body);
    ++stats_.requests;
    if (control_.measuring.load(std::memory_order_relaxed)) ++stats_.window_requests;
    if (r.ok() && r->status == 200) {
      const int64_t end_ns = WallNowNs();
      absl::StatusOr<v1::ActionSegment> summary = reader.Finish();
      if (!summary.ok() || summary->index() != k) {
        LogError(target, summary.ok() ? absl::DataLossError("wrong index") : summary.status());
      }
      ++stats_.segments;
      if (summary.ok() ? summary->last_seq() == 0 : reader.records() == 0) {
        ++stats_.empty_segments;  // notices only count as empty
      }
      stats_.after_close.Record(
          std::chrono::nanoseconds(end_ns - segmenter::BucketEnd(k, d) * 1'000'000));
      co_return true;
    }
    if (r.ok() && r->status == 404 && r->max_age_s >= 0 && r->max_age_s < 10) {
      ++stats_.not_yet;
      std::uniform_int_distribution<int64_t> pause(o_.retry_min.count(), o_.retry_max.count());
      co_await Pause(milliseconds(pause(rng)));
      continue;
    }
    if (!r.ok() && absl::IsAborted(r.status())) {
      // Cut short (DESIGN §10): ask again at once, skip by seq; again and
      // again only after a pause.
      ++stats_.restarts;
      if (++cuts > 1) {
        co_await Pause(backoff);
        backoff = std::min<milliseconds>(backoff * 2, milliseconds(2000));
      }
      continue;
    }
    LogError(target, r.ok() ? absl::UnknownError(absl::StrCat("HTTP ", r->status, " ",
                                                             r->body.substr(0, 120)))
                            : r.status());
    if (r.ok() && r->status == 404) co_return false;  // "never"
    co_await Pause(backoff);
    backoff = std::min<milliseconds>(backoff * 2, milliseconds(2000));
  }
  co_return false;
}

// Bucket k streams on connection k % 2 while the loop sleeps until `lead`
// before k ends, then asks for k + 1 on the other one (once that one's
// previous bucket is done).
asio::awaitable<void> FollowerRun::StreamHold(int64_t d) {
  struct Lane {
    HttpConnection* conn;
    asio::steady_timer idle;
    bool busy = false;
  };
  const auto ex = co_await asio::this_coro::executor;
  Lane lanes[2] = {{&conn_, asio::steady_timer(ex)}, {next_, asio::steady_timer(ex)}};
  int64_t k = segmenter::BucketIndex(WallNowNs() / 1'000'000, d);
  done_through_ = k - 1;
  asio::steady_timer clock(ex);
  while (!control_.stop.load() && k <= control_.last_bucket.load()) {
    Lane& lane = lanes[k & 1];
    while (lane.busy) {
      lane.idle.expires_at(asio::steady_timer::time_point::max());
      co_await lane.idle.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    lane.busy = true;
    asio::co_spawn(ex, StreamBucket(*lane.conn, d, k),
                   [this, &lane, k](std::exception_ptr e, bool done) {
                     if (!e && done) Completed(k);
                     lane.busy = false;
                     lane.idle.cancel();
                   });
    const int64_t wake_ms = segmenter::BucketEnd(k, d) - o_.lead.count();
    clock.expires_after(milliseconds(std::max<int64_t>(0, wake_ms - WallNowNs() / 1'000'000)));
    co_await clock.async_wait(asio::as_tuple(asio::use_awaitable));
    CheckFinished();
    ++k;
  }
  for (Lane& lane : lanes) {  // the lanes live in this frame
    while (lane.busy) {
      lane.idle.expires_at(asio::steady_timer::time_point::max());
      co_await lane.idle.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

asio::awaitable<void> FollowerRun::Run() {
  std::optional<HttpReply> r = co_await Fetch(segmenter::ManifestPath(o_.room));
  v1::Manifest m;
  if (r && !m.ParseFromString(r->body)) ++stats_.errors;
  control_.joined.fetch_add(1);
  if (r && m.config().bucket_ms() > 0) {
    if (o_.manifest_hold) {
      co_await ManifestHold(std::move(m));
    } else if (o_.stream && next_ != nullptr) {
      co_await StreamHold(m.config().bucket_ms());
      co_return;  // Completed() counted it finished
    } else {
      co_await BucketHold(m.config().bucket_ms());
    }
  }
  control_.finished.fetch_add(1);
}

}  // namespace

void FollowStats::Merge(const FollowStats& o) {
  latency.Merge(o.latency);
  latency_early.Merge(o.latency_early);
  latency_later.Merge(o.latency_later);
  after_close.Merge(o.after_close);
  messages += o.messages;
  segments += o.segments;
  empty_segments += o.empty_segments;
  manifests += o.manifests;
  requests += o.requests;
  window_requests += o.window_requests;
  not_yet += o.not_yet;
  errors += o.errors;
  gaps += o.gaps;
  duplicates += o.duplicates;
  restarts += o.restarts;
  resent += o.resent;
}

asio::awaitable<void> Follow(HttpConnection& conn, HttpConnection* next,
                             const FollowOptions& o, RunControl& control,
                             FollowStats& stats, FollowerRecord& rec) {
  FollowerRun run(conn, next, o, control, stats, rec);
  co_await run.Run();
}

}  // namespace roomcast::bench
