// Rooms sharded over the live publishers (DESIGN §13). A room belongs to
// shard ShardOf(room): a stable hash (CRC-32, the same on every machine and
// every build) modulo the shard count, which is fixed for a deployment. A
// publisher owns a shard by holding its lease ("shard.<name>") in a KV bucket
// with a TTL; ShardOwner keeps those leases for one publisher:
//
//   - every round it renews what it holds and announces itself in the
//     members bucket (same TTL), so every publisher counts the live ones;
//   - it holds at most its fair part, ceil(shards / members): it takes free
//     shards while below it (as many as half a round allows, so a round
//     stays short), and hands shards back while above it (a publisher
//     joined), highest first;
//   - a lease it fails to renew for two thirds of a TTL since its last
//     renewal was sent (NATS unreachable), or whose renewal is refused (it
//     expired and someone took it), is lost: the `lost` callback runs.
//     That thread may notice late (a renewal waiting out an election, an
//     engine opening), so `acquired` and `renewed` also say until when the
//     lease is surely held: whatever acts for the shard stops by itself at
//     that time (publisher: Uploader::SetValidUntil), a third of a TTL
//     before another holder can take it.
//
// Callbacks run on the owner's thread, one at a time; `acquired` gets the
// lease's term, which orders owners (the log's fence is what stops a stale
// one from appending, cluster/jetstream.h).
//
//   ShardOwner owner(*leases, *members, {.holder = "pub-1"},
//                    {.acquired = [&](int s, uint64_t term, auto until) { return Start(s, term, until); },
//                     .lost = [&](int s, bool handing_back) { Stop(s); },
//                     .renewed = [&](int s, auto until) { Extend(s, until); }});
//   owner.Start();
#ifndef ROOMCAST_CLUSTER_SHARDS_H_
#define ROOMCAST_CLUSTER_SHARDS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cluster/kv.h"
#include "cluster/lease.h"

namespace roomcast::cluster {

// The shard a room belongs to, in [0, shards).
int ShardOf(absl::string_view room, int shards);
// "s00", "s01", ...: the shard's name (its log stream, its publisher id at
// the origin, its lease key "shard.<name>").
std::string ShardName(int shard);

struct ShardOwnerOptions {
  std::string holder;  // this publisher's id: unique in the cluster
  int shards = 16;
  // A round: renew, count members, take or hand back. Well below the
  // buckets' TTL (a third of it is the convention).
  std::chrono::milliseconds round{1000};
  // The leases' TTL (the buckets' TTL): a lease not renewed for this long
  // is taken as lost.
  std::chrono::milliseconds ttl{3000};
};

class ShardOwner {
 public:
  struct Callbacks {
    // The shard is ours from `term` on, surely until `valid_until` (two
    // thirds of the TTL after the acquiring request was sent: another
    // holder can take it a third of the TTL later at the earliest). Non-OK:
    // it is handed back at once.
    std::function<absl::Status(int shard, uint64_t term,
                               std::chrono::steady_clock::time_point valid_until)>
        acquired;
    // A renewal went through: the shard is surely ours until `valid_until`.
    // Whatever acts for the shard stops by itself once the last one passes,
    // however late this thread notices a lost lease (a renewal that waits
    // out a NATS election, an engine opening). Null: not told.
    std::function<void(int shard, std::chrono::steady_clock::time_point valid_until)> renewed;
    // The shard is no longer ours: lost (someone else may own it already:
    // stop at once), or about to be handed back (`handing_back`: the lease
    // is released after this returns, so finish what is quick first).
    std::function<void(int shard, bool handing_back)> lost;
    // Asked each round of every shard held: false (its engine cannot go
    // on, e.g. its log was fenced) hands the shard back, to be taken again
    // with a new term. Null: always usable.
    std::function<bool(int shard)> usable;
  };

  // `leases` and `members` are KV buckets with the TTL of options.ttl.
  ShardOwner(Kv& leases, Kv& members, ShardOwnerOptions options, Callbacks callbacks);
  ~ShardOwner();  // Stop()
  ShardOwner(const ShardOwner&) = delete;
  ShardOwner& operator=(const ShardOwner&) = delete;

  // Rounds on a thread of its own from now on.
  void Start();
  // Stops the rounds, then hands every shard back (lost, then release), so
  // the others take them without waiting for a TTL.
  void Stop();
  // One round, on the caller's thread (tests; not with Start).
  void RunRound();

  std::vector<int> owned() const;

 private:
  struct Held {
    Lease lease;
    std::chrono::steady_clock::time_point renewed;
  };
  void Renew();
  // How long a lease acquired or renewed by a request sent at `sent` is
  // surely held: two thirds of the TTL.
  std::chrono::steady_clock::time_point ValidUntil(
      std::chrono::steady_clock::time_point sent) const;
  // ceil(shards / live members), at least 1; 0 if the members were never
  // known.
  int FairShare();
  // Takes up to `want` free shards, within half a round.
  void Take(int want);
  void HandBack(int keep);
  void HandBackUnusable();
  void Drop(int shard, bool release);

  Kv& leases_;
  Kv& members_;
  const ShardOwnerOptions options_;
  const Callbacks callbacks_;
  // Rounds run one at a time (RunRound, the thread, Stop).
  absl::Mutex round_mu_;
  mutable absl::Mutex mu_;
  std::map<int, Held> held_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int members_seen_ = 0;  // rounds only (round_mu_)
  std::thread thread_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_SHARDS_H_
