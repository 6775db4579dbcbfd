// The publication round (DESIGN §3, §4): buckets close by the publisher's
// clock; the objects they make go to the origin in order (immutable objects
// first, each room's manifest last), and only then does the publisher
// watermark move, never past an object the origin has not acknowledged.
//
// Each room has an outbox of objects still to upload and its manifest
// progress: the version about to be uploaded is persisted as an intent
// before the upload, so a restarted publisher never publishes a manifest
// older than one the origin may hold. A room whose object the origin refuses
// stops only that room; an unreachable origin stops the round.
//
// A ticker thread runs a round at wall-clock multiples of tick_ms; Flush()
// stops it and publishes what it can within a budget (SIGTERM).
//
//   Publication pub(options, &clock, &uploader, &log, &rooms, &metrics,
//                   [](int64_t now_ms) { /* presence */ });
//   pub.Restore(uploaded_through_ms, progress);
//   pub.StartTicker();
#ifndef ROOMCAST_PUBLISHER_INTERNAL_PUBLICATION_H_
#define ROOMCAST_PUBLISHER_INTERNAL_PUBLICATION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/clock.h"
#include "http/metrics.h"
#include "publisher/internal/log_store.h"
#include "publisher/internal/room.h"
#include "publisher/internal/room_table.h"
#include "publisher/log.pb.h"
#include "publisher/uploader.h"

namespace roomcast::publisher::internal {

class Publication {
 public:
  struct Options {
    std::string publisher_id;
    int64_t tick_ms = 20;
    // The watermark moves at every bucket boundary a live room has, and at
    // least this often otherwise (so the origin sees the publisher alive).
    int64_t watermark_heartbeat_ms = 1000;
    // How often the object that stalled a room is offered to the origin again.
    int64_t stall_retry_ms = 30'000;
  };
  // `before_round` runs at the start of every round with its time.
  Publication(Options options, const base::Clock* clock, Uploader* uploader,
              LogStore* log, RoomTable* rooms, http::Metrics* metrics,
              absl::AnyInvocable<void(int64_t now_ms)> before_round);
  ~Publication();  // stops the ticker

  // Runs at the end of every round, with the rooms that still have objects
  // waiting for the origin; returns rooms the publisher forgot (their
  // outboxes go too). The log lifecycle's hook (DESIGN §14).
  using AfterRound = absl::AnyInvocable<std::vector<std::string>(
      int64_t now_ms, const absl::flat_hash_set<std::string>& waiting)>;
  void SetAfterRound(AfterRound after_round);
  // Uploads an object rendered with takedown stubs (Upload::stubbed) in
  // Put's place: TakedownRunner::UploadRendered. Unset: a plain PUT.
  using UploadRendered = absl::AnyInvocable<absl::Status(const std::string& room, const Upload&)>;
  void SetUploadRendered(UploadRendered upload) { rendered_ = std::move(upload); }

  // After recovery: what the origin acknowledged.
  void Restore(int64_t uploaded_through_ms, const RoomProgressList& progress);

  // One round: close, upload, advance the watermark. Errors are the
  // round's first failure; what failed stays queued for the next round.
  absl::Status Tick();
  void StartTicker();
  void StopTicker();
  // Stops the ticker and publishes what it can within `budget_ms`.
  absl::Status Flush(int64_t budget_ms);

  int64_t published_watermark_ms() const { return published_w_.load(); }
  // Objects waiting for the origin.
  size_t outbox_size();

 private:
  struct Outbox {
    std::deque<Upload> queue;
    log::RoomProgress progress;
    bool progress_dirty = false;
    // The origin refused the head object: the room is stalled (DESIGN §15).
    // Its queue waits and only manifests go out; once the origin has the
    // one saying STALLED, the watermark no longer waits for the room. The
    // refused object is tried again every Options::stall_retry_ms.
    bool stalled = false;
    bool stall_announced = false;
    int64_t retry_at_ms = 0;
  };
  void Enqueue(ClosedRooms closed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PersistIntents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UploadOutbox() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Uploads a room's queue in order; kUnavailable-like errors stop the
  // round, a refusal stops the room.
  absl::Status UploadRoom(const std::string& room, Outbox& o, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One PUT, timed and counted.
  absl::Status Put(const std::string& room, const Upload& u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A stalled room's round: its manifests, and now and then the refused
  // object again (which, taken, ends the stall).
  void UploadStalled(const std::string& room, Outbox& o, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Stall(const std::string& room, Outbox& o, const Upload& refused,
             const absl::Status& why, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status UploadOutboxAt(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AdvanceWatermark(int64_t wm, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PUTs the watermark if it should move; true if it did.
  absl::StatusOr<bool> PutWatermark(int64_t target, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists changed manifest progress and the watermark (if `advanced`),
  // and drops empty outboxes.
  absl::Status PersistProgress(bool advanced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TickerLoop();
  void RunAfterRound(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const base::Clock* const clock_;
  Uploader* const uploader_;
  LogStore* const log_;
  RoomTable* const rooms_;
  absl::AnyInvocable<void(int64_t)> before_round_;
  std::atomic<int64_t> published_w_{0};

  http::Counter& uploads_;
  http::Counter& upload_errors_;
  http::Counter& upload_conflicts_;
  http::Counter& stalls_;
  http::Counter& watermark_puts_;
  http::Gauge& watermark_lag_ms_;
  http::Histogram& upload_latency_;

  absl::Mutex mu_;  // one round at a time
  absl::flat_hash_map<std::string, Outbox> outbox_ ABSL_GUARDED_BY(mu_);
  int64_t last_watermark_put_ms_ ABSL_GUARDED_BY(mu_) = 0;
  AfterRound after_round_ ABSL_GUARDED_BY(mu_);
  UploadRendered rendered_;  // set before the first round

  std::thread ticker_;
  absl::Notification stop_ticker_;
  std::atomic<bool> ticker_running_{false};
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_PUBLICATION_H_
