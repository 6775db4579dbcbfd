#include "origin/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/crypto.h"
#include "segmenter/codec.h"

namespace roomcast::origin {
namespace {

constexpr char kMetaPrefix[] = "c/";
constexpr char kWatermarkPrefix[] = "w/";
constexpr char kExpiryPrefix[] = "x/";
constexpr char kTakedownPrefix[] = "t/";
constexpr char kPurgePrefix[] = "p/";

std::string TakedownKey(const std::string& key, const std::string& new_digest) {
  return absl::StrCat(kTakedownPrefix, key, "/", new_digest);
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsIOError()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

std::string ExpiryKey(int64_t expires_ms, const std::string& key) {
  return absl::StrFormat("%s%020d/%s", kExpiryPrefix, expires_ms, key);
}

template <typename Msg>
absl::StatusOr<std::vector<Msg>> LoadPrefix(rocksdb::DB* db,
                                            const std::string& prefix) {
  std::vector<Msg> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    Msg m;
    if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("corrupt record ", it->key().ToString()));
    }
    out.push_back(std::move(m));
  }
  if (auto s = FromRocks(it->status(), "scan"); !s.ok()) return s;
  return out;
}

}  // namespace

void SetBody(StoredObject& obj, std::string body, std::optional<Encodings> enc) {
  obj.set_digest(base::Sha256Hex(body));
  obj.clear_gzip();
  obj.clear_json_gzip();
  if (enc) {
    obj.set_gzip(std::move(enc->gzip));
    obj.set_json_gzip(std::move(enc->json_gzip));
  } else if (std::string gz = Gzip(body); !gz.empty() && gz.size() < body.size()) {
    obj.set_gzip(std::move(gz));
  }
  obj.set_body(std::move(body));
}

StoredObject NewStoredObject(std::string body, int64_t now_ms, int64_t retention_s,
                             std::optional<Encodings> enc) {
  StoredObject obj;
  SetBody(obj, std::move(body), std::move(enc));
  obj.set_created_ms(now_ms);
  obj.set_expires_ms(now_ms + retention_s * 1000);
  return obj;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return "";
  }
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return "";
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

Store::Store(std::unique_ptr<rocksdb::DB> db, bool sync)
    : db_(std::move(db)), sync_(sync) {}

Store::~Store() {
  if (db_) db_->Close();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir,
                                                   bool sync) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kNoCompression;  // bodies are protobuf + gzip
  options.IncreaseParallelism(2);
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(128 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot open store at ", dir, ": ", s.ToString()));
  }
  return std::unique_ptr<Store>(new Store(std::unique_ptr<rocksdb::DB>(raw), sync));
}

absl::StatusOr<std::optional<StoredObject>> Store::Get(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  if (auto st = FromRocks(s, "get"); !st.ok()) return st;
  StoredObject obj;
  if (!obj.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt object at ", key));
  }
  return obj;
}

absl::StatusOr<std::shared_ptr<const StoredObject>> Store::GetImmutable(
    const std::string& key) const {
  ObjectCache::Lookup found = cache_.Find(key);
  if (found.hit) return found.hit;
  auto obj = Get(key);
  if (!obj.ok()) return obj.status();
  if (!obj->has_value()) return nullptr;
  // Checked once, on the read that fills the memory cache.
  if (absl::Status s = CheckDigests(key, **obj); !s.ok()) return s;
  return cache_.Insert(key, **std::move(obj), found.generation);
}

void Store::Forget(const std::string& key) { cache_.Forget(key); }

absl::StatusOr<PutOutcome> Store::PutImmutable(const std::string& key,
                                               std::string body, int64_t now_ms,
                                               int64_t retention_s,
                                               std::optional<Encodings> enc) {
  return Put(key, std::move(body), now_ms, retention_s, /*immutable=*/true, std::move(enc));
}

absl::StatusOr<PutOutcome> Store::PutMutable(const std::string& key,
                                             std::string body, int64_t now_ms,
                                             int64_t retention_s) {
  return Put(key, std::move(body), now_ms, retention_s, /*immutable=*/false, std::nullopt);
}

absl::StatusOr<PutOutcome> Store::Put(const std::string& key, std::string body,
                                      int64_t now_ms, int64_t retention_s,
                                      bool immutable, std::optional<Encodings> enc) {
  StoredObject obj = NewStoredObject(std::move(body), now_ms, retention_s, std::move(enc));

  absl::MutexLock lock(&write_mu_);
  auto old = Get(key);
  if (!old.ok()) return old.status();
  PutOutcome outcome = PutOutcome::kCreated;
  rocksdb::WriteBatch batch;
  if (old->has_value()) {
    if ((*old)->digest() == obj.digest()) {
      if (immutable) return PutOutcome::kUnchanged;
    } else if (immutable) {
      return absl::AlreadyExistsError(absl::StrCat(
          "immutable object ", key, " exists with other bytes (digest ",
          (*old)->digest(), ")"));
    }
    outcome = PutOutcome::kReplaced;
    obj.set_created_ms((*old)->created_ms());
    batch.Delete(ExpiryKey((*old)->expires_ms(), key));
  }
  batch.Put(key, obj.SerializeAsString());
  batch.Put(ExpiryKey(obj.expires_ms(), key), "");
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  if (auto s = FromRocks(db_->Write(wo, &batch), "put"); !s.ok()) return s;
  if (outcome == PutOutcome::kReplaced) Forget(key);
  return outcome;
}

absl::Status Store::ReplaceForTakedown(const std::string& key,
                                       const std::string& old_digest, std::string body,
                                       const TakedownRecord& record,
                                       const std::vector<QueuedPurge>& purges,
                                       std::optional<Encodings> enc) {
  absl::MutexLock lock(&write_mu_);
  auto old = Get(key);
  if (!old.ok()) return old.status();
  if (!old->has_value()) return absl::NotFoundError(absl::StrCat("no object at ", key));
  StoredObject obj = **std::move(old);
  if (obj.digest() != old_digest) {
    return absl::AbortedError(absl::StrCat("the object at ", key, " is now ", obj.digest()));
  }
  SetBody(obj, std::move(body), std::move(enc));
  rocksdb::WriteBatch batch;
  batch.Put(key, obj.SerializeAsString());  // its expiry entry stays as it was
  const std::string record_key = TakedownKey(key, obj.digest());
  batch.Put(record_key, record.SerializeAsString());
  batch.Put(ExpiryKey(obj.expires_ms(), record_key), "");
  for (const QueuedPurge& q : purges) batch.Put(q.key, q.purge.SerializeAsString());
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  if (auto s = FromRocks(db_->Write(wo, &batch), "takedown"); !s.ok()) return s;
  Forget(key);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TakedownRecord>> Store::GetTakedown(
    const std::string& key, const std::string& new_digest) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), TakedownKey(key, new_digest), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (auto st = FromRocks(s, "get takedown"); !st.ok()) return st;
  TakedownRecord r;
  if (!r.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat("corrupt takedown record of ", key));
  }
  return r;
}

absl::StatusOr<std::vector<TakedownRecord>> Store::ListTakedowns(
    const std::string& key_prefix, size_t max) const {
  auto all = LoadPrefix<TakedownRecord>(db_.get(), absl::StrCat(kTakedownPrefix, key_prefix));
  if (!all.ok()) return all.status();
  std::stable_sort(all->begin(), all->end(), [](const auto& a, const auto& b) {
    return a.at_ms() != b.at_ms() ? a.at_ms() < b.at_ms() : a.stored_ms() < b.stored_ms();
  });
  if (all->size() > max) all->erase(all->begin(), all->end() - static_cast<ptrdiff_t>(max));
  return all;
}

std::string ObjectStore::PurgeKey(const std::string& new_digest, const PendingPurge& purge) {
  return absl::StrCat(kPurgePrefix, new_digest, "/",
                      base::Sha256Hex(absl::StrCat(purge.base(), " ", purge.path(), " ",
                                                   purge.accept_encoding())));
}

absl::StatusOr<std::vector<Store::QueuedPurge>> Store::LoadPurges() const {
  std::vector<QueuedPurge> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kPurgePrefix); it->Valid() && it->key().starts_with(kPurgePrefix); it->Next()) {
    QueuedPurge q{.key = it->key().ToString()};
    if (!q.purge.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("corrupt purge ", q.key));
    }
    out.push_back(std::move(q));
  }
  if (auto s = FromRocks(it->status(), "scan purges"); !s.ok()) return s;
  return out;
}

absl::Status Store::DeletePurge(const std::string& key) {
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  return FromRocks(db_->Delete(wo, key), "delete purge");
}

absl::Status Store::PutRoomMeta(const RoomMeta& meta) {
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  return FromRocks(db_->Put(wo, absl::StrCat(kMetaPrefix, meta.room()),
                            meta.SerializeAsString()),
                   "put room meta");
}

absl::StatusOr<std::vector<RoomMeta>> Store::LoadRoomMetas() const {
  return LoadPrefix<RoomMeta>(db_.get(), kMetaPrefix);
}

absl::Status Store::PutWatermark(const v1::Watermark& wm) {
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  return FromRocks(db_->Put(wo, absl::StrCat(kWatermarkPrefix, wm.publisher()),
                            wm.SerializeAsString()),
                   "put watermark");
}

absl::StatusOr<std::vector<v1::Watermark>> Store::LoadWatermarks() const {
  return LoadPrefix<v1::Watermark>(db_.get(), kWatermarkPrefix);
}

absl::StatusOr<size_t> Store::SweepExpired(int64_t now_ms, size_t max) {
  const std::string end = ExpiryKey(now_ms + 1, "");
  // Held throughout, so a manifest re-PUT (which moves its index entry)
  // cannot slip between the scan and the delete.
  absl::MutexLock lock(&write_mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  rocksdb::WriteBatch batch;
  std::vector<std::string> deleted;  // object keys, to drop from the cache
  size_t n = 0;
  for (it->Seek(kExpiryPrefix); it->Valid() && n < max; it->Next()) {
    const std::string ikey = it->key().ToString();
    if (ikey >= end) break;
    // "x/" + 20 digits + "/" + object key.
    batch.Delete(ikey);
    deleted.push_back(ikey.substr(2 + 20 + 1));
    batch.Delete(deleted.back());
    ++n;
  }
  if (auto s = FromRocks(it->status(), "sweep scan"); !s.ok()) return s;
  if (n == 0) return n;
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  if (auto s = FromRocks(db_->Write(wo, &batch), "sweep"); !s.ok()) return s;
  for (const std::string& key : deleted) Forget(key);
  return n;
}

uint64_t Store::EstimatedKeys() const {
  uint64_t n = 0;
  db_->GetIntProperty("rocksdb.estimate-num-keys", &n);
  return n;
}

}  // namespace roomcast::origin
