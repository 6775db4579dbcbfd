// The origin's object store on RocksDB.
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

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "origin/stored.pb.h"
#include "roomcast/v1/ingest.pb.h"

namespace rocksdb {
class DB;
}

namespace roomcast::origin {

enum class PutOutcome { kCreated, kUnchanged, kReplaced };

// Pre-made gzip copies of an object (StoredObject.gzip, .json_gzip). Unset:
// the store gzips the body itself when that makes it smaller.
struct Encodings {
  std::string gzip;
  std::string json_gzip;
};

class Store {
 public:
  // Opens (creating if needed) the store under `dir`. `sync` makes every
  // write durable before it is acknowledged.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     bool sync = true);
  ~Store();

  absl::StatusOr<std::optional<StoredObject>> Get(const std::string& key) const;
  // Get for an object written with PutImmutable, answered from memory after
  // the first read; nullptr if absent (absence is not cached: the object may
  // be written next). Never for a mutable object. kDataLoss if the stored
  // bytes (or their gzip copy) no longer match their digest.
  absl::StatusOr<std::shared_ptr<const StoredObject>> GetImmutable(
      const std::string& key) const;

  // Stores body under key unless present. Same bytes: kUnchanged. Other
  // bytes: kAlreadyExists.
  absl::StatusOr<PutOutcome> PutImmutable(const std::string& key,
                                          std::string body, int64_t now_ms,
                                          int64_t retention_s,
                                          std::optional<Encodings> enc = std::nullopt);
  // Stores or replaces (the manifest).
  absl::StatusOr<PutOutcome> PutMutable(const std::string& key, std::string body,
                                        int64_t now_ms, int64_t retention_s);

  absl::Status PutRoomMeta(const RoomMeta& meta);
  // Every room's metadata (at start-up).
  absl::StatusOr<std::vector<RoomMeta>> LoadRoomMetas() const;

  absl::Status PutWatermark(const v1::Watermark& wm);
  absl::StatusOr<std::vector<v1::Watermark>> LoadWatermarks() const;

  // A takedown (DESIGN §11): replaces the immutable object at `key`, whose
  // stored digest must still be `old_digest` (kAborted otherwise, kNotFound
  // if it is gone), by `body`, and stores `record` and the cache purges it
  // owes, all in one write. The object keeps its creation and expiry; the
  // record expires with it.
  struct QueuedPurge {
    std::string key;  // from PurgeKey
    PendingPurge purge;
  };
  absl::Status ReplaceForTakedown(const std::string& key, const std::string& old_digest,
                                  std::string body, const TakedownRecord& record,
                                  const std::vector<QueuedPurge>& purges,
                                  std::optional<Encodings> enc = std::nullopt);
  // The record of the takedown that made `new_digest` the bytes at `key`.
  absl::StatusOr<std::optional<TakedownRecord>> GetTakedown(
      const std::string& key, const std::string& new_digest) const;
  // Up to `max` takedown records of the objects under `key_prefix` (a
  // RoomKeyPrefix), oldest first.
  absl::StatusOr<std::vector<TakedownRecord>> ListTakedowns(const std::string& key_prefix,
                                                            size_t max) const;
  // The key a purge owed for the takedown to `new_digest` is kept under.
  static std::string PurgeKey(const std::string& new_digest, const PendingPurge& purge);
  // Every purge still owed (at start-up), and one done.
  absl::StatusOr<std::vector<QueuedPurge>> LoadPurges() const;
  absl::Status DeletePurge(const std::string& key);

  // Removes up to `max` objects whose expiry is at or before now_ms.
  absl::StatusOr<size_t> SweepExpired(int64_t now_ms, size_t max = 10000);

  // RocksDB's estimate of the number of keys.
  uint64_t EstimatedKeys() const;

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

  // Immutable objects by key. Full: arbitrary entries are evicted (hash
  // order), which keeps hot objects in as long as they are re-read.
  static constexpr size_t kCacheBytes = 64 << 20;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const StoredObject>>
      cache_ ABSL_GUARDED_BY(cache_mu_);
  mutable size_t cache_bytes_ ABSL_GUARDED_BY(cache_mu_) = 0;
  // Bumped by every Forget, so a read racing a deletion is not cached.
  mutable uint64_t cache_generation_ ABSL_GUARDED_BY(cache_mu_) = 0;
};

// gzip of `in` at level 6 (zlib), and back ("" if `in` is not gzip).
std::string Gzip(const std::string& in);
std::string Gunzip(const std::string& in);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_STORE_H_
