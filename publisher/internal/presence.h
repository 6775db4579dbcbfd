// Presence (DESIGN §1, §6): heartbeats in, each room's `online` count out,
// published as a state component once per period and only when it changed.
//
// A room counts the distinct users seen over a sliding window: two
// half-window slots, the count the union of both. Each slot counts exactly
// up to kExactLimit users, then switches to a HyperLogLog of 2^14 registers
// (standard error about 0.8%), so a room of a million viewers costs 16 KiB
// per slot.
//
//   PresenceTracker presence(/*period_ms=*/5000, /*window_ms=*/30000);
//   presence.Heartbeat("lobby", "u1", now_ms);
//   for (auto& [room, n] : presence.Changes(now_ms, is_live)) Publish(room, n);
#ifndef ROOMCAST_PUBLISHER_INTERNAL_PRESENCE_H_
#define ROOMCAST_PUBLISHER_INTERNAL_PRESENCE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::publisher::internal {

class DistinctCounter {
 public:
  static constexpr size_t kExactLimit = 2048;
  static constexpr int kPrecision = 14;

  void Add(uint64_t hash);
  // Adds every element of `other`.
  void Merge(const DistinctCounter& other);
  uint64_t Estimate() const;
  bool empty() const { return exact_.empty() && registers_.empty(); }

 private:
  void ToSketch();
  void AddToSketch(uint64_t hash);

  absl::flat_hash_set<uint64_t> exact_;
  std::vector<uint8_t> registers_;  // empty while exact
};

class PresenceCounter {
 public:
  explicit PresenceCounter(int64_t window_ms) : slot_ms_(window_ms / 2) {}

  void Heartbeat(absl::string_view user, int64_t now_ms);
  // Distinct users seen in the last window (to slot granularity).
  uint64_t Count(int64_t now_ms);
  // The count last published, to publish only changes.
  int64_t published = -1;

 private:
  void Rotate(int64_t now_ms);

  int64_t slot_ms_;
  int64_t slot_ = 0;  // index of `current_`
  DistinctCounter current_, previous_;
};

uint64_t HashUser(absl::string_view user);

// The counters of every room with heartbeats. Thread-safe.
class PresenceTracker {
 public:
  PresenceTracker(int64_t period_ms, int64_t window_ms)
      : period_ms_(period_ms), window_ms_(window_ms) {}

  void Heartbeat(const std::string& room, absl::string_view user,
                 int64_t now_ms);
  // At most once per period (else nothing): every room whose count changed
  // since it was last returned, with its count. A room `live` says no more
  // to, or that nobody is in any more, is forgotten.
  std::vector<std::pair<std::string, uint64_t>> Changes(
      int64_t now_ms, absl::FunctionRef<bool(const std::string&)> live);

 private:
  const int64_t period_ms_;
  const int64_t window_ms_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, PresenceCounter> rooms_ ABSL_GUARDED_BY(mu_);
  int64_t next_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_PRESENCE_H_
