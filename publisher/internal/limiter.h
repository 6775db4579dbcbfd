// Token-bucket rate limits per user and per room (DESIGN §6: 429 with
// Retry-After). The caller decides who is limited (audience senders); each
// of them has a bucket per room, and shares the room's bucket with the rest.
// Buckets that have refilled are swept away, so memory follows the senders
// active lately, not every sender ever seen.
//
//   RateLimiter limiter({.user_per_s = 20, .user_burst = 40});
//   if (int64_t wait_ms = limiter.Acquire("lobby", "u1", 1, now_ms)) {
//     ... 429, Retry-After: ceil(wait_ms / 1000) ...
//   }
#ifndef ROOMCAST_PUBLISHER_INTERNAL_LIMITER_H_
#define ROOMCAST_PUBLISHER_INTERNAL_LIMITER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "publisher/options.h"

namespace roomcast::publisher::internal {

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

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_LIMITER_H_
