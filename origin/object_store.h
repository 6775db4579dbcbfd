// What the origin keeps, behind one interface: objects (immutable once
// written, but for a takedown), manifests, room metadata, watermarks,
// takedown records and owed cache purges. Two implementations:
//   Store           (origin/store.h) embedded RocksDB, one origin;
//   JetStreamStore  (origin/jetstream_store.h) a replicated JetStream
//                   stream shared by any number of stateless origins
//                   (DESIGN §13), which also tells each origin what the
//                   others wrote (Watch).
//
//   std::unique_ptr<ObjectStore> store = ...;
//   store->Watch([&](const StoreEvent& e) { /* wake held requests */ });
//   store->PutImmutable(key, body, now_ms, retention_s);
#ifndef ROOMCAST_ORIGIN_OBJECT_STORE_H_
#define ROOMCAST_ORIGIN_OBJECT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "origin/stored.pb.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::origin {

enum class PutOutcome { kCreated, kUnchanged, kReplaced };

// Pre-made gzip copies of an object (StoredObject.gzip, .json_gzip). Unset:
// the store gzips the body itself when that makes it smaller.
struct Encodings {
  std::string gzip;
  std::string json_gzip;
};

// Something another origin stored (a shared store only): what a local PUT
// would have woken or invalidated.
struct StoreEvent {
  enum class Kind {
    kObject,     // `key` was stored (created, or a manifest replaced)
    kReplaced,   // `key`'s bytes were replaced by a takedown
    kRoomMeta,   // `meta` is the room's latest metadata
    kWatermark,  // `watermark` is a publisher's latest
  };
  Kind kind = Kind::kObject;
  std::string key;
  RoomMeta meta;
  v1::Watermark watermark;
};

class ObjectStore {
 public:
  struct QueuedPurge {
    std::string key;  // from PurgeKey
    PendingPurge purge;
  };

  virtual ~ObjectStore() = default;

  virtual absl::StatusOr<std::optional<StoredObject>> Get(const std::string& key) const = 0;
  // Get for an object written with PutImmutable, answered from memory after
  // the first read; nullptr if absent (absence is not cached: the object may
  // be written next). Never for a mutable object. kDataLoss if the stored
  // bytes (or their gzip copy) no longer match their digest.
  virtual absl::StatusOr<std::shared_ptr<const StoredObject>> GetImmutable(
      const std::string& key) const = 0;

  // Stores body under key unless present. Same bytes: kUnchanged. Other
  // bytes: kAlreadyExists. Too large for the store: kResourceExhausted.
  virtual absl::StatusOr<PutOutcome> PutImmutable(
      const std::string& key, std::string body, int64_t now_ms, int64_t retention_s,
      std::optional<Encodings> enc = std::nullopt) = 0;
  // Stores or replaces (the manifest).
  virtual absl::StatusOr<PutOutcome> PutMutable(const std::string& key, std::string body,
                                                int64_t now_ms, int64_t retention_s) = 0;

  virtual absl::Status PutRoomMeta(const RoomMeta& meta) = 0;
  // Every room's metadata (at start-up).
  virtual absl::StatusOr<std::vector<RoomMeta>> LoadRoomMetas() const = 0;

  // Stores the publisher's watermark. The origin moves it only forward; a
  // shared store also keeps the larger of `wm` and what another origin
  // stored meanwhile.
  virtual absl::Status PutWatermark(const v1::Watermark& wm) = 0;
  virtual absl::StatusOr<std::vector<v1::Watermark>> LoadWatermarks() const = 0;

  // A takedown (DESIGN §11): replaces the immutable object at `key`, whose
  // stored digest must still be `old_digest` (kAborted otherwise, kNotFound
  // if it is gone), by `body`, and stores `record` and the cache purges it
  // owes. The object keeps its creation and expiry; the record expires with
  // it.
  virtual absl::Status ReplaceForTakedown(const std::string& key, const std::string& old_digest,
                                          std::string body, const TakedownRecord& record,
                                          const std::vector<QueuedPurge>& purges,
                                          std::optional<Encodings> enc = std::nullopt) = 0;
  // The record of the takedown that made `new_digest` the bytes at `key`.
  virtual absl::StatusOr<std::optional<TakedownRecord>> GetTakedown(
      const std::string& key, const std::string& new_digest) const = 0;
  // Up to `max` takedown records of the objects under `key_prefix` (a
  // RoomKeyPrefix), oldest first.
  virtual absl::StatusOr<std::vector<TakedownRecord>> ListTakedowns(
      const std::string& key_prefix, size_t max) const = 0;
  // The key a purge owed for the takedown to `new_digest` is kept under.
  static std::string PurgeKey(const std::string& new_digest, const PendingPurge& purge);
  // Every purge still owed (at start-up), and one done.
  virtual absl::StatusOr<std::vector<QueuedPurge>> LoadPurges() const = 0;
  virtual absl::Status DeletePurge(const std::string& key) = 0;

  // Removes objects whose expiry is at or before now_ms (up to `max` where
  // the store counts objects); returns how many.
  virtual absl::StatusOr<size_t> SweepExpired(int64_t now_ms, size_t max = 10000) = 0;

  // An estimate of the number of keys.
  virtual uint64_t EstimatedKeys() const = 0;

  // Calls `on_event` (from a thread of the store's) for what other writers
  // store from now on. A store only this origin writes has nothing to tell.
  virtual absl::Status Watch(std::function<void(const StoreEvent&)> on_event) {
    (void)on_event;
    return absl::OkStatus();
  }
};

// Gives `obj` the bytes `body`: its digest and gzip copies (the given ones,
// or its own gzip when smaller).
void SetBody(StoredObject& obj, std::string body, std::optional<Encodings> enc);
// A new object of `body`, created now and expiring after `retention_s`.
StoredObject NewStoredObject(std::string body, int64_t now_ms, int64_t retention_s,
                             std::optional<Encodings> enc);

// gzip of `in` at level 6 (zlib), and back ("" if `in` is not gzip).
std::string Gzip(const std::string& in);
std::string Gunzip(const std::string& in);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_OBJECT_STORE_H_
