// The log's stored values besides the write path: what a start reads back
// (checkpoints, replies, records, progress), quarantine, progress and
// checkpoint writes, and compaction of the trimmed range.
#include <chrono>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/durable_log.h"
#include "publisher/internal/log_keys.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace roomcast::publisher::internal {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", s.ToString()));
}

absl::string_view View(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Calls fn(key, value) for every key starting with `prefix`.
absl::Status ScanPrefix(
    rocksdb::DB* db, absl::string_view prefix,
    absl::FunctionRef<void(absl::string_view, absl::string_view)> fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() &&
       it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    fn(View(it->key()), View(it->value()));
  }
  return FromRocks(it->status(), "log read");
}

}  // namespace

void DurableLog::Quarantine(const std::string& key, const std::string& value,
                            const std::string& room, const std::string& why,
                            QuarantineFn quarantined) {
  log::Quarantined q;
  q.set_key(key);
  q.set_room(room);
  q.set_reason(why);
  q.set_value(value);
  rocksdb::WriteBatch b;
  b.Put(QuarantineKey(key), q.SerializeAsString());
  b.Delete(key);
  // If even this cannot be written the value stays where it is (and is
  // quarantined again at the next start); the start goes on regardless.
  absl::Status s = Write(&b, "quarantine");
  quarantined_.fetch_add(1);
  const std::optional<uint64_t> lsn = ParseLogKey(key);
  ROOMCAST_LOG(kError, "publisher", "log_value_quarantined")
      .Kv("room", room)
      .Kv("lsn", lsn ? static_cast<int64_t>(*lsn) : 0)
      .Kv("key", absl::CHexEscape(key))
      .Kv("reason", why)
      .Kv("moved", s.ok());
  quarantined(room, key, why);
}

absl::StatusOr<std::vector<log::RoomCheckpoint>> DurableLog::ReadCheckpoints(
    QuarantineFn quarantined,
    absl::FunctionRef<absl::Status(const log::RoomCheckpoint&)> check) {
  std::vector<log::RoomCheckpoint> out;
  std::vector<std::pair<std::string, std::string>> bad;
  std::vector<std::string> reasons;
  absl::Status s;
  {
    absl::ReaderMutexLock l(&db_mu_);
    s = ScanPrefix(
        db_.get(), kCheckpointPrefix,
        [&](absl::string_view k, absl::string_view v) {
          std::optional<std::string> room = ParseRoomKey(kCheckpointPrefix, k);
          log::RoomCheckpoint c;
          absl::Status ok =
              room && ParseStored(v, &c) && c.room() == *room
                  ? check(c)
                  : absl::DataLossError("the checkpoint does not parse");
          if (!ok.ok()) {
            bad.emplace_back(k, v);
            reasons.emplace_back(ok.message());
            return;
          }
          next_lsn_ = std::max(next_lsn_, c.lsn() + 1);
          out.push_back(std::move(c));
        });
  }
  for (size_t i = 0; i < bad.size(); ++i) {
    const auto& [k, v] = bad[i];
    Quarantine(k, v, ParseRoomKey(kCheckpointPrefix, k).value_or(""),
               reasons[i], quarantined);
  }
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::vector<log::Reply>>>
DurableLog::ReadReplies(QuarantineFn quarantined) {
  absl::flat_hash_map<std::string, std::vector<log::Reply>> out;
  std::vector<std::pair<std::string, std::string>> bad;
  absl::Status s;
  {
    absl::ReaderMutexLock l(&db_mu_);
    s = ScanPrefix(db_.get(), kRepliesPrefix,
                   [&](absl::string_view k, absl::string_view v) {
                     std::optional<std::string> room = ParseRepliesKey(k);
                     log::ReplyChunk chunk;
                     if (!room || !ParseStored(v, &chunk)) {
                       bad.emplace_back(k, v);
                       return;
                     }
                     std::vector<log::Reply>& r = out[*room];
                     for (log::Reply& reply : *chunk.mutable_replies()) {
                       r.push_back(std::move(reply));
                     }
                   });
  }
  for (const auto& [k, v] : bad) {
    Quarantine(k, v, ParseRepliesKey(k).value_or(""),
               "reply chunk does not parse", quarantined);
  }
  if (!s.ok()) return s;
  return out;
}

absl::Status DurableLog::Replay(
    absl::FunctionRef<absl::Status(uint64_t, const log::Record&)> fn,
    QuarantineFn quarantined) {
  std::vector<std::pair<std::string, std::string>> bad_values;
  std::vector<std::string> reasons;
  absl::Status s;
  {
    absl::ReaderMutexLock l(&db_mu_);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
    log::Record r;
    for (it->Seek(LogKey(trim_point_.load()));
         it->Valid() && it->key()[0] == kLogPrefix; it->Next()) {
      std::optional<uint64_t> lsn = ParseLogKey(View(it->key()));
      if (!lsn) continue;
      next_lsn_ = std::max(next_lsn_, *lsn + 1);
      absl::Status applied =
          ParseStored(View(it->value()), &r)
              ? fn(*lsn, r)
              : absl::DataLossError("the record does not parse");
      if (applied.ok()) continue;
      bad_values.emplace_back(it->key().ToString(), it->value().ToString());
      reasons.emplace_back(applied.message());
    }
    s = FromRocks(it->status(), "log replay");
  }
  for (size_t i = 0; i < bad_values.size(); ++i) {
    const auto& [k, v] = bad_values[i];
    Quarantine(k, v, RoomOfRecordBytes(v), reasons[i], quarantined);
  }
  return s;
}

absl::StatusOr<log::Progress> DurableLog::ReadProgress() {
  std::string v;
  rocksdb::Status s;
  {
    absl::ReaderMutexLock l(&db_mu_);
    s = db_->Get({}, kProgressKey, &v);
  }
  log::Progress p;
  if (s.IsNotFound()) return p;
  if (!s.ok()) return FromRocks(s, "read progress");
  if (!ParseStored(v, &p)) {
    // Read as "nothing acknowledged": every room re-publishes what its log
    // and checkpoint hold, byte-identically.
    ROOMCAST_LOG(kError, "publisher", "progress_unreadable");
    return log::Progress();
  }
  return p;
}

absl::StatusOr<absl::flat_hash_map<std::string, log::RoomProgress>>
DurableLog::ReadRoomProgress(std::vector<std::string>* unreadable) {
  absl::flat_hash_map<std::string, log::RoomProgress> out;
  absl::ReaderMutexLock l(&db_mu_);
  absl::Status s = ScanPrefix(db_.get(), kRoomProgressPrefix,
                              [&](absl::string_view k, absl::string_view v) {
                                std::optional<std::string> room =
                                    ParseRoomKey(kRoomProgressPrefix, k);
                                log::RoomProgress p;
                                if (room && ParseStored(v, &p)) {
                                  out[*room] = p;
                                } else if (room && unreadable != nullptr) {
                                  unreadable->push_back(*room);
                                }
                              });
  if (!s.ok()) return s;
  return out;
}

absl::Status DurableLog::WriteProgress(
    const log::Progress* progress,
    const std::vector<std::pair<std::string, log::RoomProgress>>& rooms) {
  rocksdb::WriteBatch batch;
  if (progress != nullptr)
    batch.Put(kProgressKey, progress->SerializeAsString());
  for (const auto& [room, p] : rooms) {
    batch.Put(RoomProgressKey(room), p.SerializeAsString());
  }
  if (batch.Count() == 0) return absl::OkStatus();
  return Write(&batch, "progress write");
}

absl::Status DurableLog::WriteCheckpoint(const CheckpointWrite& w) {
  rocksdb::WriteBatch batch;
  AddCheckpointWrite(w, &batch);
  if (batch.Count() == 0) return absl::OkStatus();
  const uint64_t old_trim = trim_point_.load();
  ROOMCAST_RETURN_IF_ERROR(Write(&batch, "checkpoint write"));
  if (w.trim_to > old_trim) {
    trim_point_ = w.trim_to;
    absl::MutexLock l(&mu_);
    if (uncompacted_ == 0) uncompacted_since_ms_ = SteadyMs();
    uncompacted_ += w.trim_to - old_trim;
  }
  return absl::OkStatus();
}

void DurableLog::AddCheckpointWrite(const CheckpointWrite& w,
                                    rocksdb::WriteBatch* b) {
  for (const log::RoomCheckpoint& c : w.checkpoints) {
    b->Put(CheckpointKey(c.room()), c.SerializeAsString());
  }
  for (const CheckpointWrite::Replies& r : w.replies) {
    b->Put(RepliesKey(r.room, r.max_ts_ms, r.lsn), r.chunk.SerializeAsString());
  }
  for (const auto& [room, before_ms] : w.expire_replies) {
    b->DeleteRange(RepliesStart(room), RepliesKey(room, before_ms, 0));
  }
  for (const std::string& room : w.forget) {
    b->DeleteRange(RepliesStart(room), RepliesEnd(room));
    b->Delete(RoomProgressKey(room));
  }
  for (const std::string& room : w.erase_checkpoints) {
    b->Delete(CheckpointKey(room));
  }
  const uint64_t old_trim = trim_point_.load();
  if (w.trim_to > old_trim) {
    b->Put(kTrimKey, EncodeBigEndian(w.trim_to));
    b->DeleteRange(LogKey(old_trim), LogKey(w.trim_to));
  }
}

void DurableLog::CompactorLoop() {
  for (;;) {
    uint64_t through = 0;
    {
      absl::MutexLock l(&mu_);
      auto due = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || uncompacted_ >= options_.compact_after_records;
      };
      mu_.AwaitWithTimeout(absl::Condition(&due), absl::Milliseconds(500));
      if (stopping_) return;
      const bool aged =
          uncompacted_ > 0 &&
          SteadyMs() - uncompacted_since_ms_ >= options_.compact_after_ms;
      if (!due() && !aged) continue;
      uncompacted_ = 0;
      through = trim_point_.load();
    }
    // The deleted records' space goes only when compaction drops them;
    // this also flushes the memtable, so the WAL a restart replays shrinks.
    rocksdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    const std::string begin = LogKey(0), end = LogKey(through);
    rocksdb::Slice b(begin), e(end);
    absl::ReaderMutexLock l(&db_mu_);
    if (db_ != nullptr && db_->CompactRange(o, &b, &e).ok()) {
      compactions_.fetch_add(1);
    }
  }
}

}  // namespace roomcast::publisher::internal
