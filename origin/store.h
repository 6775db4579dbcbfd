// The origin's object store on RocksDB.
//
// Keys come from the naming module (StorageKey): "r/{room}/..." for objects,
// "w/{publisher}" for watermarks; the store adds "c/{room}" for room metadata
// and "x/{expires_ms}/{key}" as a retention index, so expiry walks only what
// has expired (no full scans). Immutable objects are written once: the same
// bytes again are a no-op, other bytes are refused (kAlreadyExists -> 409).
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
#include "origin/stored.pb.h"
#include "roomcast/v1/ingest.pb.h"

namespace rocksdb {
class DB;
}

namespace roomcast::origin {

enum class PutOutcome { kCreated, kUnchanged, kReplaced };

class Store {
 public:
  // Opens (creating if needed) the store under `dir`. `sync` makes every
  // write durable before it is acknowledged.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     bool sync = true);
  ~Store();

  absl::StatusOr<std::optional<StoredObject>> Get(const std::string& key) const;

  // Stores body under key unless present. Same bytes: kUnchanged. Other
  // bytes: kAlreadyExists.
  absl::StatusOr<PutOutcome> PutImmutable(const std::string& key,
                                          std::string body, int64_t now_ms,
                                          int64_t retention_s);
  // Stores or replaces (the manifest).
  absl::StatusOr<PutOutcome> PutMutable(const std::string& key, std::string body,
                                        int64_t now_ms, int64_t retention_s);

  absl::Status PutRoomMeta(const RoomMeta& meta);
  // Every room's metadata (at start-up).
  absl::StatusOr<std::vector<RoomMeta>> LoadRoomMetas() const;

  absl::Status PutWatermark(const v1::Watermark& wm);
  absl::StatusOr<std::vector<v1::Watermark>> LoadWatermarks() const;

  // Removes up to `max` objects whose expiry is at or before now_ms.
  absl::StatusOr<size_t> SweepExpired(int64_t now_ms, size_t max = 10000);

  // RocksDB's estimate of the number of keys.
  uint64_t EstimatedKeys() const;

 private:
  Store(std::unique_ptr<rocksdb::DB> db, bool sync);
  absl::StatusOr<PutOutcome> Put(const std::string& key, std::string body,
                                 int64_t now_ms, int64_t retention_s,
                                 bool immutable);

  std::unique_ptr<rocksdb::DB> db_;
  bool sync_;
  // Serializes read-check-write of one object (writes are rare next to reads).
  absl::Mutex write_mu_;
};

// gzip of `in` at level 6 (zlib).
std::string Gzip(const std::string& in);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_STORE_H_
