// The publisher's log as the rest of the engine sees it (DESIGN §6, §13,
// §14): group-committed records, room checkpoints with the trim, progress
// and the reply chunks of the idempotency window. Two implementations side
// by side: DurableLog (embedded RocksDB, one machine: durable_log.h) and
// JetStreamLog (one shard's replicated stream in cluster mode:
// jetstream_log.h). Sequencer, Publication, RoomTable and Publisher take a
// LogStore* and never know which.
//
//   LogStore::Job job;
//   job.prepare = [&](std::vector<log::Record>* out) { out->push_back(r); };
//   job.done = [&](absl::Status s) { Reply(s); };   // OK: durable
//   log->Submit(std::move(job));
//
// The contract every implementation keeps: a job's `done` is OK only once
// its records are durable (synced to disk, or stored by a quorum); a failed
// write fails its jobs with kUnavailable and leaves nothing that could be
// replayed later; records replay in LSN order; a stored value that cannot
// be read is quarantined (counted, reported, skipped), never a failed start.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_LOG_STORE_H_
#define ROOMCAST_PUBLISHER_INTERNAL_LOG_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "publisher/log.pb.h"

namespace roomcast::publisher::internal {

class LogStore {
 public:
  struct Job {
    // Writer thread, submission order: append the records to write (none is
    // fine, e.g. for a rejected request). Not called if the log cannot
    // write.
    absl::AnyInvocable<void(std::vector<log::Record>*)> prepare;
    // After the batch holding them was written: OK means durable.
    absl::AnyInvocable<void(absl::Status)> done;
  };

  // One checkpoint round's write.
  struct CheckpointWrite {
    std::vector<log::RoomCheckpoint> checkpoints;  // "C/<room>"
    struct Replies {
      std::string room;
      log::ReplyChunk chunk;
      int64_t max_ts_ms = 0;
      uint64_t lsn = 0;
    };
    std::vector<Replies> replies;
    // Reply chunks of `room` whose latest reply is before the time go.
    std::vector<std::pair<std::string, int64_t>> expire_replies;
    // Rooms forgotten: their reply chunks and manifest progress go (their
    // checkpoint is replaced by a `dropped` one in `checkpoints`).
    std::vector<std::string> forget;
    // Checkpoints to delete (dropped rooms the trim has passed).
    std::vector<std::string> erase_checkpoints;
    // Records below this LSN are deleted (0 or <= trim_point(): none).
    uint64_t trim_to = 0;
  };

  // Called for each record or checkpoint moved aside at start. For a
  // record, `key` is LogKey(lsn) (log_keys.h) whatever the store.
  using QuarantineFn = absl::FunctionRef<void(
      const std::string& room, const std::string& key, const std::string& why)>;

  virtual ~LogStore() = default;

  virtual void Submit(Job job) = 0;

  // --- Start-up: call before the first Submit ---
  // Every stored checkpoint; one that cannot be read, or that `check`
  // refuses (the reason), is quarantined.
  virtual absl::StatusOr<std::vector<log::RoomCheckpoint>> ReadCheckpoints(
      QuarantineFn quarantined,
      absl::FunctionRef<absl::Status(const log::RoomCheckpoint&)> check =
          [](const log::RoomCheckpoint&) { return absl::OkStatus(); }) = 0;
  // Every stored reply, by room, oldest first.
  virtual absl::StatusOr<
      absl::flat_hash_map<std::string, std::vector<log::Reply>>>
  ReadReplies(QuarantineFn quarantined) = 0;
  // Every record from the trim point on, in LSN order. A record that does
  // not parse, or that `fn` refuses (a non-OK status is the reason), is
  // quarantined and replay goes on; only a failing read is an error.
  virtual absl::Status Replay(
      absl::FunctionRef<absl::Status(uint64_t lsn, const log::Record&)> fn,
      QuarantineFn quarantined) = 0;
  // An unreadable progress value reads as none (logged).
  virtual absl::StatusOr<log::Progress> ReadProgress() = 0;
  // Rooms whose progress cannot be read are left out and named in
  // `unreadable`.
  virtual absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
  ReadRoomProgress(std::vector<std::string>* unreadable = nullptr) = 0;

  // Durable before they return (null / empty: unchanged).
  virtual absl::Status WriteProgress(
      const log::Progress* progress,
      const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) = 0;
  virtual absl::Status WriteCheckpoint(const CheckpointWrite& w) = 0;

  // The LSN the next appended record gets: only inside a Job's prepare
  // (plus the records already appended to its `out`).
  virtual uint64_t next_lsn() const = 0;
  // Records below this LSN were deleted.
  virtual uint64_t trim_point() const = 0;
  // False while a write would fail at once (a full disk; an election; a
  // shard that moved): writes get 503 fast.
  virtual bool writable() const = 0;
  // True once another writer took the log over (cluster mode): it never
  // writes again, and its owner must reopen it (or let it go).
  virtual bool fenced() const { return false; }

  virtual uint64_t records_written() const = 0;
  virtual uint64_t batches_written() const = 0;
  virtual uint64_t failed_writes() const = 0;
  virtual uint64_t recoveries() const = 0;
  virtual uint64_t quarantined() const = 0;
  virtual uint64_t compactions() const = 0;
  virtual size_t queue_depth() = 0;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_LOG_STORE_H_
