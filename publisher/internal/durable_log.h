// The publisher's durable log on RocksDB, with group commit.
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
// Progress values (what has been uploaded) live in the same database.
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
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "publisher/log.pb.h"

namespace rocksdb {
class DB;
}

namespace roomcast::publisher::internal {

class DurableLog {
 public:
  struct Options {
    std::string dir;
    bool sync = true;             // WAL fsync before done(); tests keep it
    size_t max_batch_jobs = 4096;
  };

  struct Job {
    // Writer thread, submission order: append the records to write (none is
    // fine, e.g. for a rejected request).
    absl::AnyInvocable<void(std::vector<log::Record>*)> prepare;
    // After the batch holding them was written: OK means durable.
    absl::AnyInvocable<void(absl::Status)> done;
  };

  static absl::StatusOr<std::unique_ptr<DurableLog>> Open(Options options);
  // Finishes every submitted job, then closes the database.
  ~DurableLog();
  DurableLog(const DurableLog&) = delete;
  DurableLog& operator=(const DurableLog&) = delete;

  void Submit(Job job);

  // Every record in append order. Call before the first Submit.
  absl::Status Replay(absl::FunctionRef<absl::Status(const log::Record&)> fn);

  absl::StatusOr<log::Progress> ReadProgress();
  absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
  ReadRoomProgress();
  // One synced write of any of these (null / empty: unchanged).
  absl::Status WriteProgress(
      const log::Progress* progress,
      const std::vector<std::pair<std::string, log::RoomProgress>>& rooms);

  uint64_t records_written() const { return records_.load(); }
  uint64_t batches_written() const { return batches_.load(); }
  size_t queue_depth();

 private:
  DurableLog(Options options, std::unique_ptr<rocksdb::DB> db,
             uint64_t next_lsn);
  void WriterLoop();
  absl::Status WriteBatch(std::vector<Job>& jobs);

  const Options options_;
  std::unique_ptr<rocksdb::DB> db_;
  uint64_t next_lsn_;  // writer thread only (and Open)
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> batches_{0};

  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_DURABLE_LOG_H_
