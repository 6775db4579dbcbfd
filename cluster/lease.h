// A lease on one key of a KV bucket with a TTL (DESIGN §13: a publisher owns
// a shard by a lease). Acquire creates the key with the holder's name;
// Renew rewrites it at the revision it last wrote, before the TTL runs out.
// A holder that stops renewing (killed, paused, cut off) loses the key when
// its value expires, and the next Acquire by anyone else succeeds; the old
// holder's Renew then fails with kFailedPrecondition, because the key's
// revision moved on. The revision of the Acquire is the lease's term: it
// only grows, so it orders owners.
//
// A lease alone does not fence writes (a paused owner may still believe it
// holds one): the log's chained message ids do (cluster/jetstream.h Fence).
//
//   auto lease = Lease::Acquire(*kv, "shard.7", "pub-1");
//   ...every ttl/3: if (!lease->Renew().ok()) StopOwning();
#ifndef ROOMCAST_CLUSTER_LEASE_H_
#define ROOMCAST_CLUSTER_LEASE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/kv.h"

namespace roomcast::cluster {

class Lease {
 public:
  // kFailedPrecondition (naming the holder) if someone holds it.
  static absl::StatusOr<Lease> Acquire(Kv& kv, std::string key, std::string holder);

  // kFailedPrecondition once it is lost; kUnavailable: try again within
  // the TTL.
  absl::Status Renew();
  // Gives it up at once (a clean shutdown), if still held.
  absl::Status Release();

  const std::string& key() const { return key_; }
  uint64_t term() const { return term_; }
  uint64_t revision() const { return revision_; }

 private:
  Lease(Kv& kv, std::string key, std::string holder, uint64_t rev)
      : kv_(&kv), key_(std::move(key)), holder_(std::move(holder)), term_(rev), revision_(rev) {}

  Kv* kv_;
  std::string key_;
  std::string holder_;
  uint64_t term_;
  uint64_t revision_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_LEASE_H_
