// The publisher's durable log on RocksDB, with group commit, checkpoints
// and trimming (DESIGN §6, §14, §15).
//
// Every accepted write becomes a log::Record, synced to the WAL before its
// acknowledgement. One writer thread takes every job pending at once, lets
// each append its records (in submission order: this is where sequence
// numbers are assigned, so log order is seq order), writes them as one
// synced WriteBatch, then completes every job: one fsync for all concurrent
// writers rather than one per message.
//
//   DurableLog::Job job;
//   job.prepare = [&](std::vector<log::Record>* out) { out->push_back(r); };
//   job.done = [&](absl::Status s) { Reply(s); };   // after the sync
//   log->Submit(std::move(job));
//
// A write that fails (a full disk) fails its jobs with kUnavailable and
// nothing after it is written until the log has recovered: the writer
// thread retries at a bounded rate (RocksDB's Resume(), or closing and
// reopening the database when the error is not resumable) and first deletes
// whatever a failed batch may have left, so an unacknowledged record never
// comes back. Jobs submitted meanwhile fail without running `prepare`.
//
// Progress values (what has been uploaded), room checkpoints and the reply
// chunks of the idempotency window live in the same database (log_keys.h).
// A checkpoint write deletes the records it covers (a range delete below the
// trim point) atomically with the checkpoints; a background thread compacts
// the deleted range so its space really goes.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_DURABLE_LOG_H_
#define ROOMCAST_PUBLISHER_INTERNAL_DURABLE_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "publisher/internal/log_store.h"
#include "publisher/log.pb.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace roomcast::publisher::internal {

class DurableLog : public LogStore {
 public:
  struct Options {
    std::string dir;
    bool sync = true;  // WAL fsync before done(); tests keep it
    size_t max_batch_jobs = 4096;
    // After a failed write, how soon recovery is first tried (then less
    // often, up to every 5 s, while it fails).
    int64_t recovery_interval_ms = 200;
    // The deleted range is compacted once this many records were trimmed
    // since the last compaction, or `compact_after_ms` after a trim.
    uint64_t compact_after_records = 100000;
    int64_t compact_after_ms = 2000;
  };

  // Job, CheckpointWrite and QuarantineFn are LogStore's (log_store.h).
  static absl::StatusOr<std::unique_ptr<DurableLog>> Open(Options options);
  // Finishes every submitted job, then closes the database.
  ~DurableLog() override;
  DurableLog(const DurableLog&) = delete;
  DurableLog& operator=(const DurableLog&) = delete;

  void Submit(Job job) override;

  // --- Start-up: call before the first Submit ---
  // Every stored checkpoint; one that cannot be read, or that `check`
  // refuses (the reason), is quarantined.
  absl::StatusOr<std::vector<log::RoomCheckpoint>> ReadCheckpoints(
      QuarantineFn quarantined,
      absl::FunctionRef<absl::Status(const log::RoomCheckpoint&)> check =
          [](const log::RoomCheckpoint&) { return absl::OkStatus(); }) override;
  // Every stored reply, by room, oldest first.
  absl::StatusOr<absl::flat_hash_map<std::string, std::vector<log::Reply>>>
  ReadReplies(QuarantineFn quarantined) override;
  // Every record from the trim point on, in append order. A record that
  // does not parse, or that `fn` refuses (a non-OK status is the reason),
  // is quarantined and replay goes on; only a failing read is an error.
  absl::Status Replay(
      absl::FunctionRef<absl::Status(uint64_t lsn, const log::Record&)> fn,
      QuarantineFn quarantined) override;

  // An unreadable progress value reads as none (logged).
  absl::StatusOr<log::Progress> ReadProgress() override;
  // Rooms whose progress cannot be read are left out and named in
  // `unreadable`.
  absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
  ReadRoomProgress(std::vector<std::string>* unreadable = nullptr) override;
  // One synced write of any of these (null / empty: unchanged).
  absl::Status WriteProgress(
      const log::Progress* progress,
      const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) override;
  absl::Status WriteCheckpoint(const CheckpointWrite& w) override;

  // The LSN the next appended record gets: only inside a Job's prepare
  // (plus the records already appended to its `out`).
  uint64_t next_lsn() const override { return next_lsn_; }
  // Records below this LSN were deleted.
  uint64_t trim_point() const override { return trim_point_.load(); }
  // False from a failed write until the log has recovered.
  bool writable() const override { return writable_.load(); }

  uint64_t records_written() const override { return records_.load(); }
  uint64_t batches_written() const override { return batches_.load(); }
  uint64_t failed_writes() const override { return failed_writes_.load(); }
  uint64_t recoveries() const override { return recoveries_.load(); }
  uint64_t quarantined() const override { return quarantined_.load(); }
  uint64_t compactions() const override { return compactions_.load(); }
  size_t queue_depth() override;

 private:
  DurableLog(Options options, std::unique_ptr<rocksdb::DB> db,
             uint64_t next_lsn, uint64_t trim_point);
  void WriterLoop();
  // Waits for jobs (or, while broken, for the next recovery attempt) and
  // takes them; false once stopping with nothing left.
  bool TakeJobs(std::vector<Job>* jobs);
  absl::Status WriteBatch(std::vector<Job>& jobs);
  // One synced write; a failure makes the log unwritable until recovered.
  absl::Status Write(rocksdb::WriteBatch* batch, const char* what);
  // Writer thread: after a failed write, at most once per interval.
  void TryRecover();
  absl::Status Reopen();
  // Deletes any record at or past next_lsn_ (a failed batch's).
  absl::Status CleanUpFailedWrites();
  // Moves one stored value aside under "Q/", with why.
  void Quarantine(const std::string& key, const std::string& value,
                  const std::string& room, const std::string& why,
                  QuarantineFn quarantined);
  void AddCheckpointWrite(const CheckpointWrite& w, rocksdb::WriteBatch* b);
  void CompactorLoop();

  const Options options_;
  // Shared by every reader and writer; exclusive only to reopen the
  // database after an error RocksDB cannot resume from.
  mutable absl::Mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(db_mu_);
  uint64_t next_lsn_;  // writer thread only (and start-up)
  std::atomic<uint64_t> trim_point_;
  std::atomic<bool> writable_{true};
  // Writer thread only: the last recovery attempt, and the wait until the
  // next.
  int64_t last_recovery_ms_ = 0;
  int64_t recovery_backoff_ms_;
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> failed_writes_{0};
  std::atomic<uint64_t> recoveries_{0};
  std::atomic<uint64_t> quarantined_{0};
  std::atomic<uint64_t> compactions_{0};

  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Records trimmed since the last compaction, and when the first was.
  uint64_t uncompacted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t uncompacted_since_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_;
  std::thread compactor_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_DURABLE_LOG_H_
