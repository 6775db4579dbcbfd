#include "client/internal/retry.h"

#include <algorithm>

#include "absl/random/random.h"

namespace roomcast::client::internal {
namespace {

constexpr std::chrono::milliseconds kFloor{100};
constexpr std::chrono::milliseconds kMaxRetryAfter{60000};

}  // namespace

Backoff::Backoff(std::chrono::milliseconds cap)
    : jitter_(kFloor, std::max(cap - kFloor, kFloor)) {}

std::chrono::milliseconds Backoff::Next(
    std::optional<std::chrono::milliseconds> retry_after) {
  const std::chrono::milliseconds wait = kFloor + jitter_.NextBackOff();
  if (!retry_after) return wait;
  return std::max(wait, std::min(*retry_after, kMaxRetryAfter));
}

std::chrono::milliseconds RandomPause(int64_t lo_ms, int64_t hi_ms) {
  // One generator per thread: every Client runs its loop on one thread.
  thread_local absl::BitGen gen;
  return std::chrono::milliseconds(absl::Uniform<int64_t>(
      absl::IntervalClosed, gen, lo_ms, std::max(lo_ms, hi_ms)));
}

}  // namespace roomcast::client::internal
