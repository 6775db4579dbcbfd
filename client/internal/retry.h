// How the client waits before asking again, written once for the follower
// and the blocking fetches: trouble backs off with full jitter over an
// exponential ceiling (base/backoff.h) above a floor, so a retry is never a
// busy loop, and at least as long as a server's Retry-After asks; a "not
// yet" is asked again after a short random pause, so that many clients do
// not ask in step (DESIGN §4, CDN traps).
//
//   Backoff backoff(std::chrono::seconds(5));
//   loop.After(backoff.Next(reply.RetryAfter()), [&] { Retry(); });
//   ...on success: backoff.Reset();
#ifndef ROOMCAST_CLIENT_INTERNAL_RETRY_H_
#define ROOMCAST_CLIENT_INTERNAL_RETRY_H_

#include <chrono>
#include <cstdint>
#include <optional>

#include "base/backoff.h"

namespace roomcast::client::internal {

class Backoff {
 public:
  // The n-th wait since Reset is uniform in [100 ms, min(cap, 100 ms +
  // 100 ms * 2^n)]; a cap below 200 ms counts as 200 ms.
  explicit Backoff(std::chrono::milliseconds cap);

  // The next wait, and no less than `retry_after` (capped at a minute: a
  // server cannot park a viewer for longer).
  std::chrono::milliseconds Next(
      std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  void Reset() { jitter_.Reset(); }

 private:
  base::JitteredExponentialBackOff jitter_;
};

// Uniform in [lo_ms, max(lo_ms, hi_ms)].
std::chrono::milliseconds RandomPause(int64_t lo_ms, int64_t hi_ms);

// The pause before asking again for an object that is not there yet.
inline std::chrono::milliseconds NotYetPause() { return RandomPause(100, 250); }

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_RETRY_H_
