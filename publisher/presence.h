// Distinct users present in a room over a sliding window, for the `online`
// state component (DESIGN §1, §6).
//
// Two half-window slots; the count is the union of both. Each slot counts
// exactly up to kExactLimit users, then switches to a HyperLogLog of 2^14
// registers (standard error about 0.8%), so a room of a million viewers
// costs 16 KiB per slot.
#ifndef ROOMCAST_PUBLISHER_PRESENCE_H_
#define ROOMCAST_PUBLISHER_PRESENCE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace roomcast::publisher {

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

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_PRESENCE_H_
