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
//
// The table also keeps the log bounded (DESIGN §14): it knows which of each
// room's records a checkpoint covers, snapshots the rooms publication says
// are fully acknowledged (SnapshotCheckpoints: checkpoints, new replies, the
// trim point below which no room needs a record), commits what was written,
// and forgets ended rooms once their retention is over.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_
#define ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "publisher/internal/log_store.h"
#include "publisher/internal/room.h"
#include "publisher/log.pb.h"
#include "publisher/options.h"

namespace roomcast::publisher::internal {

// The objects one round closed, per room, in upload order.
using ClosedRooms = std::vector<std::pair<std::string, std::vector<Upload>>>;
// Each room's manifest progress, as recovered.
using RoomProgressList = std::vector<std::pair<std::string, log::RoomProgress>>;

// What a room's takedown jobs need to know of it (TakedownRunner).
struct TakedownWork {
  std::string room;
  std::vector<log::TakedownJob> jobs;  // ascending id
  segmenter::Scope scope = segmenter::Scope::kPublic;
  int64_t bucket_ms = 0;
  int64_t rollup_ms = 0;
  int64_t opened_ms = 0;
  int64_t closed_through_ms = 0;  // every bucket ending by then is closed
  int64_t retention_ms = 0;       // how long the origin keeps an object past its end
  std::vector<v1::SegmentRef> recent;  // the manifest's recent segments
};

class RoomTable {
 public:
  struct Options {
    std::string publisher_id;
    std::string hint_master_secret;
    int64_t idempotency_window_ms = 0;
    LogLifecycle lifecycle;
  };
  // What one checkpoint round writes, and what to do once it is durable.
  struct CheckpointRound {
    LogStore::CheckpointWrite write;
    // Each room checkpointed: how many of its unsaved replies went in, and
    // its coverage when it was taken.
    struct Saved {
      std::string room;
      size_t replies = 0;
      uint64_t lsn = 0;
      uint64_t applied_bytes = 0;
    };
    std::vector<Saved> saved;
    std::vector<std::string> dropped;  // rooms forgotten
    bool empty() const {
      return write.checkpoints.empty() && write.erase_checkpoints.empty() &&
             write.trim_to == 0;
    }
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
  // As a Stamp at `ts_ms` (released the same way): the bucket of `ts_ms`
  // stays open until the write is durable (a retraction of a message in it).
  void HoldOpen(int64_t ts_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The time a room opening now says it opened: never inside a closed bucket.
  int64_t OpeningTimeMs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMs() const { return clock_->NowMs(); }

  // --- Taking mu() ---
  // Records now durable: applies them (but `opened` records, applied when
  // they were made) and releases `stamped` stamps. A record that does not
  // apply is a bug; it is logged.
  // `first_lsn` is the first record's LSN (the rest follow).
  void ApplyDurable(const std::vector<log::Record>& records, uint64_t first_lsn,
                    size_t stamped, v1::StateComponent* state_out = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The write of `records` failed: takes back what sequencing them did (a
  // room opened by them goes) and releases `stamped` stamps.
  void RollBack(const std::vector<log::Record>& records, size_t stamped)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Rebuilds every room from its checkpoint, its stored replies and the
  // records after the checkpoint, then closes, without uploading, what the
  // origin has acknowledged (buckets before `uploaded_through_ms`). What
  // cannot be read or applied is quarantined and stalls its room, as does
  // progress named in `unreadable`. Returns each room's manifest progress.
  absl::StatusOr<RoomProgressList> Recover(
      LogStore& log, int64_t uploaded_through_ms,
      const absl::flat_hash_map<std::string, log::RoomProgress>& progress,
      const std::vector<std::string>& unreadable = {}) ABSL_LOCKS_EXCLUDED(mu_);
  // The rooms due a checkpoint (see LogLifecycle; with `all`, every room
  // with records no checkpoint covers), but none in `waiting` (objects not
  // yet acknowledged), and ended rooms past their retention.
  CheckpointRound SnapshotCheckpoints(
      int64_t now_ms, const absl::flat_hash_set<std::string>& waiting,
      bool all = false) ABSL_LOCKS_EXCLUDED(mu_);
  // After the round's write: if `written`, its rooms are covered and its
  // dropped rooms forgotten (they are returned).
  std::vector<std::string> CommitCheckpoints(const CheckpointRound& round,
                                             bool written)
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
  // Rooms open and not ended.
  size_t open_rooms() ABSL_LOCKS_EXCLUDED(mu_);
  // Rooms marked stalled.
  size_t stalled_rooms() ABSL_LOCKS_EXCLUDED(mu_);
  // Stalls a room from `from_ms` (Room::MarkStalled), or lets it go on.
  void MarkStalled(const std::string& room, std::string reason, int64_t from_ms)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unstall(const std::string& room) ABSL_LOCKS_EXCLUDED(mu_);
  // --- Live push (DESIGN §10) ---
  // Turns on the dirty-rooms set: every room a durable record (or a rolled
  // back retraction) may have given something to push joins it, and `wake`
  // runs (without mu()) after each such batch. Set before any write.
  void SetLiveWake(absl::AnyInvocable<void()> wake) { live_wake_ = std::move(wake); }
  // The dirty rooms, emptied; with mu() held (the pusher's visit).
  absl::flat_hash_set<std::string> TakeLiveDirty() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::exchange(live_dirty_, {});
  }
  void MarkLiveDirty(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (live_wake_) live_dirty_.insert(room);
  }
  // After recovery: every room with an open bucket is pushed from 0 (the
  // origin's overlap check makes what it has a no-op).
  void MarkAllLiveDirty() ABSL_LOCKS_EXCLUDED(mu_);
  // Takedowns (DESIGN §11): rooms with a job running, and what a room's
  // jobs need (nullopt for a room not known).
  std::vector<std::string> RoomsWithTakedowns() ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<TakedownWork> Takedowns(const std::string& room) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void ApplyDurableLocked(const std::vector<log::Record>& records, uint64_t first_lsn,
                          size_t stamped, v1::StateComponent* state_out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollBackLocked(const std::vector<log::Record>& records, size_t stamped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Room* Open(const log::Record& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Room* Restore(const log::RoomCheckpoint& c)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RestoreAll(LogStore& log,
                          absl::flat_hash_map<std::string, uint64_t>* covered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A live room stopped being one (ended, or its open rolled back).
  void Closed(Room* room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Forget(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kInvalidArgument unless a room could be opened with `c`.
  static absl::Status CheckConfig(const v1::RoomConfig& c);
  // When an ended room's retention is over.
  static int64_t ExpiryMs(const Room& room);
  // A record of `room` at `lsn` was applied.
  void Applied(Room* room, uint64_t lsn, size_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DueCheckpoint(Room& room, int64_t now_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DueDrop(Room& room, int64_t now_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddCheckpoint(const std::string& name, Room& room, int64_t now_ms,
                     CheckpointRound* round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t TrimPoint(const CheckpointRound& round) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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
  size_t open_rooms_ ABSL_GUARDED_BY(mu_) = 0;
  // Rooms with records no checkpoint covers, and ended rooms (both looked
  // at by checkpoint rounds; the rest cost nothing).
  absl::flat_hash_set<std::string> uncovered_ ABSL_GUARDED_BY(mu_);
  // Ended rooms by when their retention is over.
  std::set<std::pair<int64_t, std::string>> ended_ ABSL_GUARDED_BY(mu_);
  // Forgotten rooms' `dropped` checkpoints, by the LSN they cover: deleted
  // once the trim point has passed it.
  absl::flat_hash_map<std::string, uint64_t> dropped_ ABSL_GUARDED_BY(mu_);
  // Rooms whose reply chunks may still be stored, and when their expired
  // chunks were last deleted.
  absl::flat_hash_map<std::string, int64_t> with_replies_ ABSL_GUARDED_BY(mu_);
  // LSN after the last record applied; the log's trim point.
  uint64_t applied_end_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t trim_point_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t closed_through_ ABSL_GUARDED_BY(mu_) = 0;
  // Records stamped but not yet applied, and their earliest time.
  size_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t inflight_floor_ ABSL_GUARDED_BY(mu_) = 0;
  // Rooms the live pusher should visit (only with live_wake_ set).
  absl::flat_hash_set<std::string> live_dirty_ ABSL_GUARDED_BY(mu_);
  absl::AnyInvocable<void()> live_wake_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_ROOM_TABLE_H_
