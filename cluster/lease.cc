#include "cluster/lease.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace roomcast::cluster {

absl::StatusOr<Lease> Lease::Acquire(Kv& kv, std::string key, std::string holder) {
  absl::StatusOr<uint64_t> rev = kv.Create(key, holder);
  if (rev.ok()) return Lease(kv, std::move(key), std::move(holder), *rev);
  if (!absl::IsFailedPrecondition(rev.status())) return rev.status();
  // Only to name the holder: a KV read may come from a follower a moment
  // behind (libnats reads directly), so it may not find it yet.
  absl::StatusOr<KvEntry> now = kv.Get(key);
  return absl::FailedPreconditionError(
      absl::StrCat(key, " is held by ", now.ok() ? now->value : "another holder"));
}

absl::Status Lease::Renew() {
  absl::StatusOr<uint64_t> rev = kv_->Update(key_, holder_, revision_);
  if (!rev.ok()) return rev.status();
  revision_ = *rev;
  return absl::OkStatus();
}

absl::Status Lease::Release() {
  // Only ours to delete while it is at our revision: a conditional write of
  // nothing first, so a lease already taken over is left alone.
  absl::Status s = Renew();
  if (!s.ok()) return s;
  return kv_->Delete(key_);
}

}  // namespace roomcast::cluster
