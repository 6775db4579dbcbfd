#include "cluster/shards.h"

#include <zlib.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/log.h"

namespace roomcast::cluster {

int ShardOf(absl::string_view room, int shards) {
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(room.data()),
                          static_cast<uInt>(room.size()));
  return static_cast<int>(crc % static_cast<uLong>(shards));
}

std::string ShardName(int shard) { return absl::StrFormat("s%02d", shard); }

namespace {
std::string LeaseKey(int shard) { return absl::StrCat("shard.", ShardName(shard)); }
}  // namespace

ShardOwner::ShardOwner(Kv& leases, Kv& members, ShardOwnerOptions options,
                       Callbacks callbacks)
    : leases_(leases), members_(members), options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

ShardOwner::~ShardOwner() { Stop(); }

void ShardOwner::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock l(&mu_);
    while (!stopping_) {
      mu_.Unlock();
      RunRound();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                           absl::FromChrono(options_.round));
    }
  });
}

void ShardOwner::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && !thread_.joinable() && held_.empty()) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock round(&round_mu_);
  for (int shard : owned()) Drop(shard, /*release=*/true);
}

std::vector<int> ShardOwner::owned() const {
  absl::MutexLock l(&mu_);
  std::vector<int> out;
  for (const auto& [shard, held] : held_) out.push_back(shard);
  return out;
}

void ShardOwner::RunRound() {
  absl::MutexLock round(&round_mu_);
  Renew();
  HandBackUnusable();
  const int fair = FairShare();
  if (fair == 0) return;  // members unknown: hold what we have
  const int have = static_cast<int>(owned().size());
  if (have > fair) {
    HandBack(fair);
  } else if (have < fair) {
    Take(fair - have);
  }
}

void ShardOwner::Renew() {
  (void)members_.Put(options_.holder, "1");  // a failure shows as a lost renewal
  // Once one renewal finds the KV unreachable (an election: each call
  // waits out its timeout) the rest are not tried this round, so a round
  // stays short however many shards are held; each still expires on time.
  bool unreachable = false;
  for (int shard : owned()) {
    // The server counts the TTL from when the renewal reaches it, which is
    // after it was sent: the lease is ours until sent + TTL at most.
    const auto sent = std::chrono::steady_clock::now();
    absl::Status s = absl::UnavailableError("the lease bucket did not answer this round");
    {
      absl::MutexLock l(&mu_);
      if (!unreachable) s = held_.at(shard).lease.Renew();
      if (s.ok()) held_.at(shard).renewed = sent;
    }
    if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) unreachable = true;
    if (s.ok()) {
      if (callbacks_.renewed) callbacks_.renewed(shard, ValidUntil(sent));
      continue;
    }
    bool expired = absl::IsFailedPrecondition(s) || absl::IsNotFound(s);
    if (!expired) {
      // Given up well before the server lets another take it, so that two
      // owners never both act (the log's fence covers a paused one).
      absl::MutexLock l(&mu_);
      expired = std::chrono::steady_clock::now() >= ValidUntil(held_.at(shard).renewed);
    }
    if (!expired) continue;  // kUnavailable within the TTL: next round
    ROOMCAST_LOG(kWarning, "shards", "lease_lost")
        .Kv("shard", ShardName(shard))
        .Kv("why", s.ToString());
    Drop(shard, /*release=*/false);
  }
}

std::chrono::steady_clock::time_point ShardOwner::ValidUntil(
    std::chrono::steady_clock::time_point sent) const {
  return sent + options_.ttl * 2 / 3;
}

int ShardOwner::FairShare() {
  absl::StatusOr<std::vector<std::string>> members = members_.Keys();
  if (members.ok()) {
    const int seen = std::max<int>(1, static_cast<int>(members->size()));
    if (seen != members_seen_) {
      // What the fair share follows: said when it changes, with the names.
      ROOMCAST_LOG(kInfo, "shards", "members_changed")
          .Kv("members", seen)
          .Kv("names", absl::StrJoin(*members, ","));
    }
    members_seen_ = seen;
  } else {
    // A listing can fail while keys expire under it (libnats' listing
    // waits for every key it counted at the start): keep the last count.
    ROOMCAST_LOG(kWarning, "shards", "members_unknown").Kv("why", members.status().ToString());
  }
  if (members_seen_ == 0) return 0;
  return (options_.shards + members_seen_ - 1) / members_seen_;
}

void ShardOwner::Take(int want) {
  // Start where this holder's name points, so publishers starting at once
  // mostly try different shards first.
  const int first = ShardOf(options_.holder, options_.shards);
  // Several free shards (a holder died, or every lease expired in an
  // election) are taken in one round, as long as the round stays short:
  // opening each one's engine delays the next renewal of the others.
  const auto budget_end = std::chrono::steady_clock::now() + options_.round / 2;
  for (int i = 0; i < options_.shards && want > 0; ++i) {
    if (std::chrono::steady_clock::now() >= budget_end) return;
    const int shard = (first + i) % options_.shards;
    {
      absl::MutexLock l(&mu_);
      if (held_.contains(shard)) continue;
    }
    const auto sent = std::chrono::steady_clock::now();
    absl::StatusOr<Lease> lease = Lease::Acquire(leases_, LeaseKey(shard), options_.holder);
    if (absl::IsFailedPrecondition(lease.status())) continue;  // held by another
    if (!lease.ok()) return;  // unreachable: the others would be too; next round
    const uint64_t term = lease->term();
    {
      absl::MutexLock l(&mu_);
      held_.emplace(shard, Held{*std::move(lease), sent});
    }
    ROOMCAST_LOG(kInfo, "shards", "lease_acquired")
        .Kv("shard", ShardName(shard))
        .Kv("term", term);
    absl::Status s =
        callbacks_.acquired ? callbacks_.acquired(shard, term, ValidUntil(sent)) : absl::OkStatus();
    if (!s.ok()) {
      ROOMCAST_LOG(kError, "shards", "shard_start_failed")
          .Kv("shard", ShardName(shard))
          .Kv("why", s.ToString());
      Drop(shard, /*release=*/true);
      return;
    }
    --want;
  }
}

void ShardOwner::HandBack(int keep) {
  std::vector<int> mine = owned();
  // Each hand-back flushes its engine first: as many as half a round
  // allows (one at least), so the renewals of the rest are not delayed.
  const auto budget_end = std::chrono::steady_clock::now() + options_.round / 2;
  for (size_t i = mine.size(); i > static_cast<size_t>(keep); --i) {
    if (i < mine.size() && std::chrono::steady_clock::now() >= budget_end) return;
    ROOMCAST_LOG(kInfo, "shards", "lease_handed_back").Kv("shard", ShardName(mine[i - 1]));
    Drop(mine[i - 1], /*release=*/true);
  }
}

void ShardOwner::HandBackUnusable() {
  if (!callbacks_.usable) return;
  for (int shard : owned()) {
    if (callbacks_.usable(shard)) continue;
    ROOMCAST_LOG(kWarning, "shards", "shard_unusable").Kv("shard", ShardName(shard));
    Drop(shard, /*release=*/true);
  }
}

void ShardOwner::Drop(int shard, bool release) {
  if (callbacks_.lost) callbacks_.lost(shard, release);
  absl::MutexLock l(&mu_);
  auto it = held_.find(shard);
  if (it == held_.end()) return;
  if (release) (void)it->second.lease.Release();  // else it expires
  held_.erase(it);
}

}  // namespace roomcast::cluster
