// Token-bucket rate limits per user and per room (DESIGN §6: 429 with
// Retry-After). Audience senders are limited per user and share their
// room's budget; anchors, moderators and the service are not limited.
#ifndef ROOMCAST_PUBLISHER_LIMITER_H_
#define ROOMCAST_PUBLISHER_LIMITER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::publisher {

struct RateLimits {
  double user_per_s = 20;   // 0: unlimited
  double user_burst = 40;
  double room_per_s = 5000;
  double room_burst = 10000;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimits limits) : limits_(limits) {}

  // Takes `n` tokens from the user's and the room's bucket at `now_ms`. 0 if
  // allowed; otherwise how many ms until it would be (nothing is taken).
  int64_t Acquire(absl::string_view room, absl::string_view user, double n,
                  int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
  };
  // Tokens `b` holds at now (refilled, capped); a new bucket starts full.
  static double Level(const Bucket* b, double rate, double burst, int64_t now);
  void Sweep(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimits limits_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> users_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Bucket> rooms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_LIMITER_H_
