// A JetStream key-value bucket (DESIGN §13: shard leases, watermarks), over
// libnats' KV API. Every write can be conditional on the key's revision, so
// two writers racing on one key cannot both win:
//   Create   only if the key has no value (kFailedPrecondition otherwise);
//   Update   only if the key is still at `last` (kFailedPrecondition
//            otherwise: someone else wrote it, or it expired and was
//            created again).
// Errors are the kinds of cluster/jetstream.h (kUnavailable: retry).
//
//   auto kv = Kv::Open(js, {.bucket = "leases", .ttl = 3s});
//   auto rev = (*kv)->Create("shard.7", "pub-1");
//   rev = (*kv)->Update("shard.7", "pub-1", *rev);
#ifndef ROOMCAST_CLUSTER_KV_H_
#define ROOMCAST_CLUSTER_KV_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cluster/jetstream.h"

struct __kvStore;

namespace roomcast::cluster {

struct KvConfig {
  std::string bucket;
  // A value expires this long after it was written (0: never): a lease
  // not renewed within it is free for the next owner.
  std::chrono::milliseconds ttl{0};
  int replicas = 3;
  int history = 1;
};

struct KvEntry {
  std::string value;
  uint64_t revision = 0;  // grows with every write to the bucket
};

class Kv {
 public:
  // Creates the bucket, or opens it if it is there.
  static absl::StatusOr<std::unique_ptr<Kv>> Open(JetStream& js, const KvConfig& config);
  ~Kv();
  Kv(const Kv&) = delete;
  Kv& operator=(const Kv&) = delete;

  // kNotFound if the key has no value (never set, deleted or expired).
  absl::StatusOr<KvEntry> Get(absl::string_view key);
  absl::StatusOr<uint64_t> Put(absl::string_view key, absl::string_view value);
  absl::StatusOr<uint64_t> Create(absl::string_view key, absl::string_view value);
  absl::StatusOr<uint64_t> Update(absl::string_view key, absl::string_view value, uint64_t last);
  absl::Status Delete(absl::string_view key);
  // Every key with a value now (deleted and expired ones left out).
  absl::StatusOr<std::vector<std::string>> Keys();

 private:
  explicit Kv(__kvStore* kv) : kv_(kv) {}
  __kvStore* kv_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_KV_H_
