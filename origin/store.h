// The origin's object store on RocksDB (an ObjectStore, origin/object_store.h).
//
// Keys come from the naming module (StorageKey): "r/{room}/..." for objects,
// "w/{publisher}" for watermarks; the store adds "c/{room}" for room metadata
// and "x/{expires_ms}/{key}" as a retention index, so expiry walks only what
// has expired (no full scans). Immutable objects are written once: the same
// bytes again are a no-op, other bytes are refused (kAlreadyExists -> 409).
//
// Immutable objects once read are kept in memory (GetImmutable), bounded in
// bytes: the live edge of a room is read by every edge cache at once.
//
//   ROOMCAST_ASSIGN_OR_RETURN(auto store, Store::Open(dir));
//   store->PutImmutable(key, body, now_ms, retention_s);
//   std::optional<StoredObject> obj = *store->Get(key);
#ifndef ROOMCAST_ORIGIN_STORE_H_
#define ROOMCAST_ORIGIN_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "origin/internal/object_cache.h"
#include "origin/object_store.h"

namespace rocksdb {
class DB;
}

namespace roomcast::origin {

class Store : public ObjectStore {
 public:
  // Opens (creating if needed) the store under `dir`. `sync` makes every
  // write durable before it is acknowledged.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     bool sync = true);
  ~Store() override;

  absl::StatusOr<std::optional<StoredObject>> Get(const std::string& key) const override;
  absl::StatusOr<std::shared_ptr<const StoredObject>> GetImmutable(
      const std::string& key) const override;
  absl::StatusOr<PutOutcome> PutImmutable(const std::string& key, std::string body,
                                          int64_t now_ms, int64_t retention_s,
                                          std::optional<Encodings> enc = std::nullopt) override;
  absl::StatusOr<PutOutcome> PutMutable(const std::string& key, std::string body,
                                        int64_t now_ms, int64_t retention_s) override;
  absl::Status PutRoomMeta(const RoomMeta& meta) override;
  absl::StatusOr<std::vector<RoomMeta>> LoadRoomMetas() const override;
  absl::Status PutWatermark(const v1::Watermark& wm) override;
  absl::StatusOr<std::vector<v1::Watermark>> LoadWatermarks() const override;
  // One write: the object, its record and its purges.
  absl::Status ReplaceForTakedown(const std::string& key, const std::string& old_digest,
                                  std::string body, const TakedownRecord& record,
                                  const std::vector<QueuedPurge>& purges,
                                  std::optional<Encodings> enc = std::nullopt) override;
  absl::StatusOr<std::optional<TakedownRecord>> GetTakedown(
      const std::string& key, const std::string& new_digest) const override;
  absl::StatusOr<std::vector<TakedownRecord>> ListTakedowns(const std::string& key_prefix,
                                                            size_t max) const override;
  absl::StatusOr<std::vector<QueuedPurge>> LoadPurges() const override;
  absl::Status DeletePurge(const std::string& key) override;
  absl::StatusOr<size_t> SweepExpired(int64_t now_ms, size_t max = 10000) override;
  // RocksDB's estimate of the number of keys.
  uint64_t EstimatedKeys() const override;

 private:
  Store(std::unique_ptr<rocksdb::DB> db, bool sync);
  absl::StatusOr<PutOutcome> Put(const std::string& key, std::string body,
                                 int64_t now_ms, int64_t retention_s,
                                 bool immutable, std::optional<Encodings> enc);

  // Drops `key` from the memory cache (its object was deleted or replaced).
  void Forget(const std::string& key);

  std::unique_ptr<rocksdb::DB> db_;
  bool sync_;
  // Serializes read-check-write of one object (writes are rare next to reads).
  absl::Mutex write_mu_;

  mutable ObjectCache cache_;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_STORE_H_
