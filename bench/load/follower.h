// Simulated room followers for the end-to-end benchmark (DESIGN §5, §9):
// each reads a room's manifest through a cache, then follows the room in
// bucket-hold mode (GET actions/{D}/{k}.pb for k = now's bucket, k+1, ...;
// the origin holds each until it closes) or manifest-hold mode (GET
// manifest.pb?after=V, then the new segments it lists) or stream mode
// (bucket-hold, each open bucket read as it streams, DESIGN §10; a record
// counts as decoded the moment its last byte is in). A "not yet" 404 is
// asked again after a short random pause, as the reference nginx config
// expects of clients.
//
// For every message decoded, `now - message.ts_ms` (wall clock; the
// publisher stamps ts_ms with its receive time on the same host) is the
// delivery latency: acked POST -> decoded by a client. Each follower also
// checks its seq stream for gaps and duplicates.
//
//   FollowStats stats;           // one per thread, merged at the end
//   FollowerRecord rec;          // one per follower
//   co_spawn(io, Follow(conn, options, control, stats, rec), detached);
#ifndef ROOMCAST_BENCH_LOAD_FOLLOWER_H_
#define ROOMCAST_BENCH_LOAD_FOLLOWER_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "bench/load/http_connection.h"
#include "bench/load/latency_histogram.h"

namespace roomcast::bench {

struct FollowOptions {
  std::string room;
  bool manifest_hold = false;
  // Stream mode (DESIGN §10): each bucket is read as it grows, each record
  // decoded the moment its last byte is in; bucket k+1 is asked `lead`
  // before k ends, on the follower's second connection.
  bool stream = false;
  std::chrono::milliseconds lead{100};
  // Pause before asking again after a "not yet" 404 (uniform in the range)
  // or an error (the max, doubled per consecutive error up to 2 s).
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{200};
};

// What the run asks of the followers; shared by every load thread.
struct RunControl {
  std::atomic<size_t> joined{0};
  std::atomic<size_t> finished{0};
  // Set once the poster is done: followers stop after the bucket holding the
  // last acked message (bucket-hold) or once they have its seq
  // (manifest-hold).
  std::atomic<int64_t> last_bucket{std::numeric_limits<int64_t>::max()};
  std::atomic<uint64_t> last_seq{std::numeric_limits<uint64_t>::max()};
  std::atomic<bool> stop{false};
  // True during the posting window: requests then count in window_requests.
  std::atomic<bool> measuring{false};
};

// Counters of every follower on one thread.
struct FollowStats {
  LatencyHistogram latency;      // per message: decoded - ts_ms
  // Stream mode, the same split by when in its bucket a record was stamped:
  // in the first kEarlyMs (while the bucket's requests and stream starts
  // crowd the cache), or later.
  static constexpr int64_t kEarlyMs = 200;
  LatencyHistogram latency_early;
  LatencyHistogram latency_later;
  // Per segment, bucket-hold only: decoded - the bucket's end. What the
  // pipeline (close, upload, hold wake-up, cache) adds to waiting for the
  // bucket to end.
  LatencyHistogram after_close;
  uint64_t messages = 0;
  uint64_t segments = 0;        // action segments decoded
  uint64_t empty_segments = 0;
  uint64_t manifests = 0;       // manifest-hold answers
  uint64_t requests = 0;
  uint64_t window_requests = 0;  // of those, made in the posting window
  uint64_t not_yet = 0;         // 404 "not yet" answers, asked again
  uint64_t errors = 0;          // transport errors, 5xx, undecodable bodies
  uint64_t gaps = 0;            // seqs missing from a follower's stream
  uint64_t duplicates = 0;      // seqs seen twice or out of order
  uint64_t restarts = 0;        // streams that ended without their summary, asked again
  uint64_t resent = 0;          // records skipped after a restart: seq already had
  void Merge(const FollowStats& o);
};

// One follower's view of its seq stream.
struct FollowerRecord {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t count = 0;   // distinct seqs, each above the one before
  uint64_t faults = 0;  // gaps and duplicates
  bool finished = false;
};

// Joins (manifest), counts itself in control.joined, and follows until the
// control says the run is over. Stream mode needs `next`, a second
// connection (the next bucket is asked while the current one streams).
boost::asio::awaitable<void> Follow(HttpConnection& conn, HttpConnection* next,
                                    const FollowOptions& o,
                                    RunControl& control, FollowStats& stats,
                                    FollowerRecord& rec);

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_FOLLOWER_H_
