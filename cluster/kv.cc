#include "cluster/kv.h"

#include <nats/nats.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "cluster/nats_status.h"

namespace roomcast::cluster {

absl::StatusOr<std::unique_ptr<Kv>> Kv::Open(JetStream& js, const KvConfig& config) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = config.bucket.c_str();
  cfg.History = static_cast<uint8_t>(config.history);
  cfg.Replicas = config.replicas;
  cfg.StorageType = js_FileStorage;
  // libnats 3.4 hands the TTL to the server as is: nanoseconds.
  cfg.TTL = std::chrono::nanoseconds(config.ttl).count();
  kvStore* kv = nullptr;
  const natsStatus created = js_CreateKeyValue(&kv, js.js_, &cfg);
  if (created == NATS_OK) return std::unique_ptr<Kv>(new Kv(kv));
  // There already (with this config or another): open it as it is.
  if (js_KeyValue(&kv, js.js_, config.bucket.c_str()) == NATS_OK) {
    return std::unique_ptr<Kv>(new Kv(kv));
  }
  // Not there and not created: the creation's failure says why. A refusal
  // by JetStream itself (NATS_ERR) on a bucket that does not exist is, on a
  // healthy config, a cluster still placing its peers (cold start, a node
  // missing): kUnavailable, so callers retry (bounded).
  const std::string what = absl::StrCat("KV bucket ", config.bucket);
  if (created == NATS_ERR) {
    return absl::UnavailableError(absl::StrCat(what, ": ", nats_GetLastError(nullptr)));
  }
  return ToStatus(created, what);
}

Kv::~Kv() { kvStore_Destroy(kv_); }

absl::StatusOr<KvEntry> Kv::Get(absl::string_view key) {
  const std::string k(key);
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, k.c_str());
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("get ", key));
  KvEntry out{.value = std::string(static_cast<const char*>(kvEntry_Value(e)),
                                   static_cast<size_t>(kvEntry_ValueLen(e))),
              .revision = kvEntry_Revision(e)};
  kvEntry_Destroy(e);
  return out;
}

absl::StatusOr<uint64_t> Kv::Put(absl::string_view key, absl::string_view value) {
  const std::string k(key);
  uint64_t rev = 0;
  natsStatus s = kvStore_Put(&rev, kv_, k.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("put ", key));
  return rev;
}

absl::StatusOr<uint64_t> Kv::Create(absl::string_view key, absl::string_view value) {
  const std::string k(key);
  uint64_t rev = 0;
  natsStatus s =
      kvStore_Create(&rev, kv_, k.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("create ", key));
  return rev;
}

absl::StatusOr<uint64_t> Kv::Update(absl::string_view key, absl::string_view value,
                                    uint64_t last) {
  const std::string k(key);
  uint64_t rev = 0;
  natsStatus s =
      kvStore_Update(&rev, kv_, k.c_str(), value.data(), static_cast<int>(value.size()), last);
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("update ", key, " at revision ", last));
  return rev;
}

absl::Status Kv::Delete(absl::string_view key) {
  const std::string k(key);
  return ToStatus(kvStore_Delete(kv_, k.c_str()), absl::StrCat("delete ", key));
}

absl::StatusOr<std::vector<std::string>> Kv::Keys() {
  kvKeysList list{};
  natsStatus s = kvStore_Keys(&list, kv_, nullptr);
  // An empty bucket is no error here.
  if (s == NATS_NOT_FOUND) return std::vector<std::string>{};
  if (s != NATS_OK) return ToStatus(s, "keys");
  std::vector<std::string> out(list.Keys, list.Keys + list.Count);
  kvKeysList_Destroy(&list);
  // Each key once, in order: the listing is a consumer's delivery, which
  // a reset under load can repeat (a publisher counting members must not
  // count one twice).
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace roomcast::cluster
