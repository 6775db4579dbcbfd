// The memory cache of immutable objects both stores keep (GetImmutable):
// bounded in bytes, filled on a read whose bytes match their digest, and
// told to forget an object that was replaced or deleted. Internal to
// origin/.
//
//   ObjectCache::Lookup l = cache.Find(key);
//   if (l.hit) return l.hit;
//   ... read obj ...
//   ROOMCAST_RETURN_IF_ERROR(CheckDigests(key, obj));
//   return cache.Insert(key, std::move(obj), l.generation);
#ifndef ROOMCAST_ORIGIN_INTERNAL_OBJECT_CACHE_H_
#define ROOMCAST_ORIGIN_INTERNAL_OBJECT_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "origin/stored.pb.h"

namespace roomcast::origin {

// kDataLoss if the object's bytes (or a gzip copy) do not match its digest:
// such bytes must never be served under it as immutable.
absl::Status CheckDigests(const std::string& key, const StoredObject& obj);

class ObjectCache {
 public:
  struct Lookup {
    std::shared_ptr<const StoredObject> hit;  // null: a miss
    uint64_t generation = 0;                  // pass to Insert after the read
  };
  Lookup Find(const std::string& key) const;
  // Caches `obj` unless a Forget ran since the Find that returned
  // `generation` (a read racing a deletion is not cached); returns it.
  std::shared_ptr<const StoredObject> Insert(const std::string& key, StoredObject obj,
                                             uint64_t generation);
  void Forget(const std::string& key);
  // Forgets every object whose key starts with `prefix`.
  void ForgetPrefix(const std::string& prefix);

 private:
  // Full: arbitrary entries are evicted (hash order), which keeps hot
  // objects in as long as they are re-read.
  static constexpr size_t kCacheBytes = 64 << 20;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const StoredObject>> cache_
      ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_OBJECT_CACHE_H_
