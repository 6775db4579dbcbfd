// Every room the publisher knows, under one mutex, and the two times that
// decide how far publication may close them: every bucket ending at or before
// `closed_through` was (or is being) closed, so receive times never go below
// it; and a bucket holding a record that is stamped but not yet durable stays
// open (`inflight`), so a message is never late for its bucket.
//
// Ingest works on the table with mu() held (the Sequencer's prepare step:
// Live, Stamp, Apply); everything else takes the lock itself.
//
//   absl::MutexLock l(&table.mu());
//   ROOMCAST_ASSIGN_OR_RETURN(Room* room, table.Live("lobby"));
//   m.set_seq(room->NextSeq());
//   m.set_ts_ms(table.Stamp(room));   // released by ApplyDurable
#ifndef ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_
#define ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "publisher/internal/durable_log.h"
#include "publisher/internal/room.h"
#include "publisher/log.pb.h"

namespace roomcast::publisher::internal {

// The objects one round closed, per room, in upload order.
using ClosedRooms = std::vector<std::pair<std::string, std::vector<Upload>>>;
// Each room's manifest progress, as recovered.
using RoomProgressList = std::vector<std::pair<std::string, log::RoomProgress>>;

class RoomTable {
 public:
  struct Options {
    std::string publisher_id;
    std::string hint_master_secret;
    int64_t idempotency_window_ms = 0;
  };
  RoomTable(Options options, const base::Clock* clock);

  absl::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // --- With mu() held ---
  // Applies a record to its room; an `opened` record creates the room.
  absl::Status Apply(const log::Record& r,
                     v1::StateComponent* state_out = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Room* Find(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kNotFound unless the room is open and takes writes.
  absl::StatusOr<Room*> Live(const std::string& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A receive time for a record of `room` about to be logged. Its bucket
  // stays open until ApplyDurable releases the stamp.
  int64_t Stamp(Room* room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases `n` stamps of records that will not be applied.
  void Unstamp(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The time a room opening now says it opened: never inside a closed bucket.
  int64_t OpeningTimeMs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMs() const { return clock_->NowMs(); }

  // --- Taking mu() ---
  // Records now durable: applies them (but `opened` records, applied when
  // they were made) and releases `stamped` stamps. A record that does not
  // apply is a bug; it is logged.
  void ApplyDurable(const std::vector<log::Record>& records, size_t stamped,
                    v1::StateComponent* state_out = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Rebuilds every room from the log, then closes, without uploading, what
  // the origin has acknowledged (buckets before `uploaded_through_ms`).
  // Returns each room's manifest progress.
  absl::StatusOr<RoomProgressList> Recover(
      DurableLog& log, int64_t uploaded_through_ms,
      const absl::flat_hash_map<std::string, log::RoomProgress>& progress)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the active rooms' buckets that ended by `now_ms`, but none
  // holding an in-flight record, and adds their objects to `out`. Returns
  // the time everything before was closed: the next watermark.
  int64_t Close(int64_t now_ms, ClosedRooms* out) ABSL_LOCKS_EXCLUDED(mu_);
  // True if some live room's bucket boundary lies in (from, to]: someone may
  // be waiting for the watermark to pass it.
  bool CrossesBoundary(int64_t from_ms, int64_t to_ms) ABSL_LOCKS_EXCLUDED(mu_);
  // True while an active room has something to publish (see Room).
  bool Unpublished() ABSL_LOCKS_EXCLUDED(mu_);
  // As Live, for a caller that does not hold mu().
  absl::Status CheckLive(const std::string& room) ABSL_LOCKS_EXCLUDED(mu_);
  // kNotFound for a room never opened (an ended room still has one).
  absl::StatusOr<std::string> HintSecret(const std::string& room)
      ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Open(const log::Record& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const base::Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Room>> rooms_
      ABSL_GUARDED_BY(mu_);
  // Rooms with something open, pending or unpublished.
  absl::flat_hash_set<std::string> active_ ABSL_GUARDED_BY(mu_);
  // Bucket durations of live rooms (how many rooms each), for deciding when
  // the watermark crosses a boundary someone is waiting for.
  absl::flat_hash_map<int64_t, int> live_bucket_ms_ ABSL_GUARDED_BY(mu_);
  int64_t closed_through_ ABSL_GUARDED_BY(mu_) = 0;
  // Records stamped but not yet applied, and their earliest time.
  size_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t inflight_floor_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_
