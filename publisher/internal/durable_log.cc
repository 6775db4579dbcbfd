// The log's write path: opening, group commit, and recovery after a failed
// write. Start-up reads, progress and checkpoint writes are in
// durable_log_store.cc.
#include "publisher/internal/durable_log.h"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "publisher/internal/log_keys.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace roomcast::publisher::internal {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// RocksDB's own log goes to ours, warnings and errors only. Its default
// writes a LOG file into the data directory, which on a full disk is the
// first thing to fail, and RocksDB 7.8 asserts (SIGABRT) on the next line
// it writes there.
class RocksLogger : public rocksdb::Logger {
 public:
  RocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < rocksdb::InfoLogLevel::WARN_LEVEL) return;
    char line[1024];
    vsnprintf(line, sizeof(line), format, ap);
    base::LogLine(level >= rocksdb::InfoLogLevel::ERROR_LEVEL
                      ? base::LogLevel::kError
                      : base::LogLevel::kWarning,
                  "publisher", "rocksdb")
        .Kv("message", line);
  }
};

// The log recovers from a failed write itself (TryRecover), at its own
// pace; RocksDB's own recovery from a full disk waits for free space of a
// whole write buffer, which a small disk never has, and meanwhile refuses
// Resume() as busy.
class ManualRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

rocksdb::Options DbOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_background_jobs = 2;
  // What a kill -9 leaves to replay at open is at most this much WAL per
  // memtable not yet flushed.
  o.write_buffer_size = 16 << 20;
  // Room for memtables waiting on a flush. With RocksDB's two, a burst of
  // batched ingest fills the second while the first is still flushing (and
  // the compactor's CompactRange forces a flush of its own), and RocksDB
  // stops every write, every room's ack with it, for as long as the flush
  // takes: bench/ingest.sh logged "Stopping writes because we have 2
  // immutable memtables" and ack p99 of 0.45-0.9 s. Four leave a flush
  // three buffers of slack; the WAL a restart replays grows to at most that.
  o.max_write_buffer_number = 4;
  o.info_log = std::make_shared<RocksLogger>();
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.listeners.push_back(std::make_shared<ManualRecovery>());
  return o;
}

absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenDb(const std::string& dir) {
  // RocksDB creates a missing directory too, but logs an error first.
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(), dir, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot open log in '", dir, "': ", s.ToString()));
  }
  return std::unique_ptr<rocksdb::DB>(raw);
}

// The trim point, and the LSN after the last record (at least the trim
// point: a trimmed log still never reuses an LSN).
std::pair<uint64_t, uint64_t> ReadLsns(rocksdb::DB* db) {
  uint64_t trim = 1;
  std::string v;
  if (db->Get({}, kTrimKey, &v).ok() && v.size() == 8) {
    trim = std::max<uint64_t>(1, DecodeBigEndian(v));
  }
  uint64_t next = trim;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
  it->SeekForPrev(LogKey(std::numeric_limits<uint64_t>::max()));
  if (it->Valid()) {
    if (std::optional<uint64_t> lsn = ParseLogKey(
            absl::string_view(it->key().data(), it->key().size()))) {
      next = std::max(next, *lsn + 1);
    }
  }
  return {trim, next};
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableLog>> DurableLog::Open(Options options) {
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenDb(options.dir);
  if (!db.ok()) return db.status();
  const auto [trim, next] = ReadLsns(db->get());
  return std::unique_ptr<DurableLog>(
      new DurableLog(std::move(options), *std::move(db), next, trim));
}

DurableLog::DurableLog(Options options, std::unique_ptr<rocksdb::DB> db,
                       uint64_t next_lsn, uint64_t trim_point)
    : options_(std::move(options)),
      db_(std::move(db)),
      next_lsn_(next_lsn),
      trim_point_(trim_point),
      recovery_backoff_ms_(options_.recovery_interval_ms) {
  writer_ = std::thread([this] { WriterLoop(); });
  compactor_ = std::thread([this] { CompactorLoop(); });
}

DurableLog::~DurableLog() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  writer_.join();
  compactor_.join();
  absl::WriterMutexLock l(&db_mu_);
  if (db_ == nullptr) return;
  db_->FlushWAL(/*sync=*/true).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

void DurableLog::Submit(Job job) {
  absl::MutexLock l(&mu_);
  queue_.push_back(std::move(job));
}

size_t DurableLog::queue_depth() {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

void DurableLog::WriterLoop() {
  std::vector<Job> jobs;
  while (TakeJobs(&jobs)) {
    if (!writable_) TryRecover();
    absl::Status s =
        writable_ ? WriteBatch(jobs)
                  : absl::UnavailableError(
                        "the log cannot write (disk full or failing); retry");
    for (Job& j : jobs) j.done(s);
    jobs.clear();
  }
}

bool DurableLog::TakeJobs(std::vector<Job>* jobs) {
  absl::MutexLock l(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  };
  // While broken, wake up to retry recovery even with nothing to write.
  while (!ready()) {
    if (mu_.AwaitWithTimeout(
            absl::Condition(&ready),
            absl::Milliseconds(options_.recovery_interval_ms))) {
      break;
    }
    if (!writable_) {
      mu_.Unlock();
      TryRecover();
      mu_.Lock();
    }
  }
  if (queue_.empty()) return false;  // stopping, and nothing left
  while (!queue_.empty() && jobs->size() < options_.max_batch_jobs) {
    jobs->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

absl::Status DurableLog::WriteBatch(std::vector<Job>& jobs) {
  std::vector<log::Record> records;
  for (Job& j : jobs) j.prepare(&records);
  if (records.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  std::string value;
  uint64_t lsn = next_lsn_;
  for (const log::Record& r : records) {
    r.SerializeToString(&value);
    batch.Put(LogKey(lsn++), value);
  }
  absl::Status s = Write(&batch, "log write");
  if (!s.ok()) return s;
  next_lsn_ = lsn;
  records_.fetch_add(records.size());
  batches_.fetch_add(1);
  return absl::OkStatus();
}

absl::Status DurableLog::Write(rocksdb::WriteBatch* batch, const char* what) {
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::Status s;
  {
    absl::ReaderMutexLock l(&db_mu_);
    s = db_ == nullptr ? rocksdb::Status::IOError("the log is closed")
                       : db_->Write(wo, batch);
  }
  if (s.ok()) return absl::OkStatus();
  failed_writes_.fetch_add(1);
  if (writable_.exchange(false)) {
    ROOMCAST_LOG(kError, "publisher", "log_write_failed")
        .Kv("what", what)
        .Kv("status", s.ToString());
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

void DurableLog::TryRecover() {
  const int64_t now = SteadyMs();
  if (now - last_recovery_ms_ < recovery_backoff_ms_) return;
  last_recovery_ms_ = now;
  // Each failed attempt waits twice as long (up to 5 s): an attempt may
  // replay or flush a whole write buffer.
  recovery_backoff_ms_ = std::min<int64_t>(2 * recovery_backoff_ms_, 5000);
  rocksdb::Status resumed;
  {
    absl::ReaderMutexLock l(&db_mu_);
    resumed =
        db_ == nullptr ? rocksdb::Status::IOError("closed") : db_->Resume();
  }
  // A full disk resumes once there is space; anything else RocksDB will
  // not resume from (EFBIG, EIO: "fatal") needs the database reopened.
  if (resumed.IsBusy() || resumed.IsNoSpace()) return;
  if (!resumed.ok() && !Reopen().ok()) return;
  if (CleanUpFailedWrites().ok()) {
    writable_ = true;
    recovery_backoff_ms_ = options_.recovery_interval_ms;
    recoveries_.fetch_add(1);
    ROOMCAST_LOG(kWarning, "publisher", "log_recovered")
        .Kv("next_lsn", static_cast<int64_t>(next_lsn_));
  }
}

absl::Status DurableLog::CleanUpFailedWrites() {
  // Whatever a failed batch left goes before anything new is written, so
  // an unacknowledged record can never be replayed. This is also the probe.
  rocksdb::WriteBatch cleanup;
  cleanup.DeleteRange(LogKey(next_lsn_),
                      LogKey(std::numeric_limits<uint64_t>::max()));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  absl::ReaderMutexLock l(&db_mu_);
  if (db_ == nullptr) return absl::UnavailableError("the log is closed");
  rocksdb::Status s = db_->Write(wo, &cleanup);
  return s.ok() ? absl::OkStatus() : absl::UnavailableError(s.ToString());
}

absl::Status DurableLog::Reopen() {
  absl::WriterMutexLock l(&db_mu_);
  if (db_ != nullptr) {
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenDb(options_.dir);
  if (!db.ok()) return db.status();
  db_ = *std::move(db);
  return absl::OkStatus();
}

}  // namespace roomcast::publisher::internal
