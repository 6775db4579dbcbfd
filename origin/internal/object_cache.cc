#include "origin/internal/object_cache.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "origin/object_store.h"

namespace roomcast::origin {
namespace {

// What a cached object costs, roughly: its bytes, key and bookkeeping.
size_t CachedSize(const std::string& key, const StoredObject& obj) {
  return key.size() + obj.body().size() + obj.gzip().size() + obj.json_gzip().size() +
         obj.digest().size() + 128;
}

}  // namespace

absl::Status CheckDigests(const std::string& key, const StoredObject& obj) {
  if (base::Sha256Hex(obj.body()) != obj.digest() ||
      (!obj.gzip().empty() && Gunzip(obj.gzip()) != obj.body()) ||
      (!obj.json_gzip().empty() && Gunzip(obj.json_gzip()).empty())) {
    return absl::DataLossError(
        absl::StrCat("stored bytes of ", key, " do not match their digest"));
  }
  return absl::OkStatus();
}

ObjectCache::Lookup ObjectCache::Find(const std::string& key) const {
  absl::ReaderMutexLock lock(&mu_);
  if (auto it = cache_.find(key); it != cache_.end()) return {.hit = it->second};
  return {.generation = generation_};
}

std::shared_ptr<const StoredObject> ObjectCache::Insert(const std::string& key,
                                                        StoredObject obj,
                                                        uint64_t generation) {
  auto shared = std::make_shared<const StoredObject>(std::move(obj));
  const size_t size = CachedSize(key, *shared);
  absl::MutexLock lock(&mu_);
  if (generation != generation_ || size > kCacheBytes / 16) return shared;
  while (bytes_ + size > kCacheBytes && !cache_.empty()) {
    auto victim = cache_.begin();
    bytes_ -= CachedSize(victim->first, *victim->second);
    cache_.erase(victim);
  }
  if (cache_.try_emplace(key, shared).second) bytes_ += size;
  return shared;
}

void ObjectCache::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  ++generation_;
  if (auto it = cache_.find(key); it != cache_.end()) {
    bytes_ -= CachedSize(it->first, *it->second);
    cache_.erase(it);
  }
}

void ObjectCache::ForgetPrefix(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  ++generation_;
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (absl::StartsWith(it->first, prefix)) {
      bytes_ -= CachedSize(it->first, *it->second);
      cache_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace roomcast::origin
