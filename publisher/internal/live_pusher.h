// The live push (DESIGN §10, live contract §C/§D): one thread for all
// rooms sends each open bucket's records to the origin (POST /v1/live) as
// they become durable, so the origin can stream the bucket before it
// closes.
//
// It is woken when a log batch is applied (RoomTable's dirty-rooms set: a
// room with nothing new is never visited, so idle rooms cost nothing) and
// on a timer for records waiting out the room's review delay. A round
// takes the dirty rooms under the rooms' lock, collects their appends into
// one LiveBatch (RoomLive::Collect), sends it outside the lock on the
// uploader's one live connection, and applies the acks under the lock
// again. One batch is in flight at a time; a failed one is sent again from
// what the origin acknowledged after a short backoff. Nothing here ever
// blocks an ack or the PUT path: the closed segment's PUT stays the truth.
//
//   LivePusher pusher({}, &clock, &uploader, &rooms, &metrics);
//   pusher.Start();     // RoomTable::SetLiveWake(...) wakes it
//   pusher.Sync();      // tests: a round that starts after this call ran
#ifndef ROOMCAST_PUBLISHER_INTERNAL_LIVE_PUSHER_H_
#define ROOMCAST_PUBLISHER_INTERNAL_LIVE_PUSHER_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "http/metrics.h"
#include "publisher/internal/room_table.h"
#include "publisher/uploader.h"

namespace roomcast::publisher::internal {

class LivePusher {
 public:
  struct Options {
    // One batch, at most (the origin takes 4 MiB and 4096 appends).
    size_t max_batch_bytes = 3 << 20;
    size_t max_appends = kMaxLiveAppends;
    // After a failed push, the wait before the next: doubling up to max.
    int64_t backoff_min_ms = 50;
    int64_t backoff_max_ms = 2000;
    // An origin without POST /v1/live (404, 405, 501: older than live
    // segments) is asked again this rarely.
    int64_t no_endpoint_backoff_ms = 30000;
  };
  LivePusher(Options options, const base::Clock* clock, Uploader* uploader, RoomTable* rooms,
             http::Metrics* metrics);
  ~LivePusher();  // Stop()
  LivePusher(const LivePusher&) = delete;
  LivePusher& operator=(const LivePusher&) = delete;

  // Registers with the table (SetLiveWake) and starts the thread.
  void Start();
  void Stop();
  // Something may be pushable (a durable batch applied, a retraction
  // rolled back).
  void Wake();
  // A publication round: wakes the thread if a review-delay timer is due by
  // the clock (a test's fake clock does not move by itself).
  void WakeIfDue();
  // Waits until a round that started after this call has finished (tests).
  void Sync();

 private:
  struct Round {
    v1::LiveBatch batch;
    // Per append: its room and what it sent.
    std::vector<std::pair<std::string, LiveSent>> sent;
    absl::flat_hash_map<std::string, int64_t> due;  // room -> review-delay due
    bool more = false;  // rooms left dirty (budget), visit again at once
  };
  void Loop();
  // One round; true if another should follow at once.
  bool RunOnce();
  Round Collect(int64_t now_ms);
  // Rooms whose review-delay timer is due by `now_ms`, taken off the timers.
  std::vector<std::string> TakeDue(int64_t now_ms);
  void AddTimers(const absl::flat_hash_map<std::string, int64_t>& due);
  enum class Outcome {
    kAnswered,  // a LiveReply, one ack per append
    kLost,      // no answer: the origin may or may not have taken it
    kNotTaken,  // surely not taken: an error answer, or never sent
  };
  Outcome Send(const Round& r, v1::LiveReply* reply);
  // Applies the acks (without them, marks the batch's rooms dirty again,
  // and rewinds them if the batch was surely not taken); true if some room
  // should go again at once.
  bool Apply(const Round& r, Outcome outcome, const v1::LiveReply& reply);

  const Options options_;
  const base::Clock* const clock_;
  Uploader* const uploader_;
  RoomTable* const rooms_;
  http::Counter& records_pushed_;
  http::Counter& batches_;
  http::Counter& errors_;
  http::Counter& refused_;
  http::Counter& wakeups_;
  http::Counter& rooms_visited_;
  http::Histogram& latency_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  // The uploader cannot POST (a test double, a setup without live): the
  // pusher stops pushing after the first try.
  bool unsupported_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t rounds_started_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rounds_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t backoff_ms_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none
  // Review-delay timers: (due ms, room), and each room's one entry.
  std::set<std::pair<int64_t, std::string>> timers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> timer_of_ ABSL_GUARDED_BY(mu_);
  bool no_endpoint_ = false;  // the pusher thread's: the last push's answer said so
  std::thread thread_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_LIVE_PUSHER_H_
