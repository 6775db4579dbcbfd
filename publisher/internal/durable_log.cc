#include "publisher/internal/durable_log.h"

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace roomcast::publisher::internal {
namespace {

// Keys: "L" + 8-byte big-endian LSN (sorts in append order), "W" for the
// publisher's progress, "P/<room>" per room.
constexpr char kLogPrefix = 'L';
constexpr char kProgressKey[] = "W";
constexpr char kRoomPrefix[] = "P/";

std::string LogKey(uint64_t lsn) {
  std::string k(9, '\0');
  k[0] = kLogPrefix;
  for (int i = 0; i < 8; ++i) k[1 + i] = static_cast<char>(lsn >> (56 - 8 * i));
  return k;
}

uint64_t LsnOf(const rocksdb::Slice& key) {
  uint64_t lsn = 0;
  for (int i = 0; i < 8; ++i) {
    lsn = (lsn << 8) | static_cast<unsigned char>(key.data()[1 + i]);
  }
  return lsn;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableLog>> DurableLog::Open(Options options) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_background_jobs = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, options.dir, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot open log in '", options.dir, "': ", s.ToString()));
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  uint64_t next_lsn = 1;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
  it->SeekForPrev(LogKey(~uint64_t{0}));
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == kLogPrefix) {
    next_lsn = LsnOf(it->key()) + 1;
  }
  return std::unique_ptr<DurableLog>(
      new DurableLog(std::move(options), std::move(db), next_lsn));
}

DurableLog::DurableLog(Options options, std::unique_ptr<rocksdb::DB> db,
                       uint64_t next_lsn)
    : options_(std::move(options)), db_(std::move(db)), next_lsn_(next_lsn) {
  writer_ = std::thread([this] { WriterLoop(); });
}

DurableLog::~DurableLog() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  writer_.join();
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
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](DurableLog* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left
      while (!queue_.empty() && jobs.size() < options_.max_batch_jobs) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    absl::Status s = WriteBatch(jobs);
    for (Job& j : jobs) j.done(s);
    jobs.clear();
  }
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
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  absl::Status s = FromRocks(db_->Write(wo, &batch), "log write");
  if (!s.ok()) return s;
  next_lsn_ = lsn;
  records_.fetch_add(records.size());
  batches_.fetch_add(1);
  return absl::OkStatus();
}

absl::Status DurableLog::Replay(
    absl::FunctionRef<absl::Status(const log::Record&)> fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  log::Record r;
  for (it->Seek(std::string(1, kLogPrefix));
       it->Valid() && it->key()[0] == kLogPrefix; it->Next()) {
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("log record ", LsnOf(it->key()), " does not parse"));
    }
    if (absl::Status s = fn(r); !s.ok()) return s;
  }
  return FromRocks(it->status(), "log replay");
}

absl::StatusOr<log::Progress> DurableLog::ReadProgress() {
  std::string v;
  rocksdb::Status s = db_->Get({}, kProgressKey, &v);
  log::Progress p;
  if (s.IsNotFound()) return p;
  if (!s.ok()) return FromRocks(s, "read progress");
  if (!p.ParseFromString(v)) return absl::DataLossError("bad progress record");
  return p;
}

absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
DurableLog::ReadRoomProgress() {
  absl::flat_hash_map<std::string, log::RoomProgress> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
  for (it->Seek(kRoomPrefix); it->Valid() && it->key().starts_with(kRoomPrefix);
       it->Next()) {
    log::RoomProgress p;
    if (!p.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError("bad room progress record");
    }
    out[it->key().ToString().substr(2)] = p;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read room progress");
  return out;
}

absl::Status DurableLog::WriteProgress(
    const log::Progress* progress,
    const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) {
  rocksdb::WriteBatch batch;
  if (progress != nullptr) batch.Put(kProgressKey, progress->SerializeAsString());
  for (const auto& [room, p] : rooms) {
    batch.Put(absl::StrCat(kRoomPrefix, room), p.SerializeAsString());
  }
  if (batch.Count() == 0) return absl::OkStatus();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromRocks(db_->Write(wo, &batch), "progress write");
}

}  // namespace roomcast::publisher::internal
