// Backoff between retries, as Envoy's BackOffStrategy: an interface injected
// where retries happen, and the full-jitter exponential implementation
// (AWS "Exponential Backoff And Jitter": sleep = random(0, min(cap,
// base * 2^attempt))), which spreads a herd of retrying clients evenly
// instead of re-synchronising them.
//
//   JitteredExponentialBackOff b(std::chrono::milliseconds(100),
//                                std::chrono::milliseconds(5000));
//   while (!Try()) std::this_thread::sleep_for(b.NextBackOff());
//
// A strategy is not thread-safe; use one per retry loop.
#ifndef ROOMCAST_BASE_BACKOFF_H_
#define ROOMCAST_BASE_BACKOFF_H_

#include <chrono>
#include <cstdint>
#include <functional>

namespace roomcast::base {

class BackOffStrategy {
 public:
  virtual ~BackOffStrategy() = default;
  // The wait before the next attempt; each call moves one attempt on.
  virtual std::chrono::milliseconds NextBackOff() = 0;
  // Back to the first attempt (after a success).
  virtual void Reset() = 0;
};

class JitteredExponentialBackOff : public BackOffStrategy {
 public:
  // Returns a uniformly distributed 64-bit value. Tests inject a fixed one.
  using RandomFn = std::function<uint64_t()>;

  // base > 0 and cap >= base (clamped otherwise). A null `random` uses a
  // per-instance absl::BitGen.
  JitteredExponentialBackOff(std::chrono::milliseconds base,
                             std::chrono::milliseconds cap,
                             RandomFn random = nullptr);

  // Uniform in [0, min(cap, base * 2^n)] for the n-th call since Reset().
  std::chrono::milliseconds NextBackOff() override;
  void Reset() override { ceiling_ = base_; }

 private:
  int64_t base_;
  int64_t cap_;
  int64_t ceiling_;  // the upper bound of the next wait, ms
  RandomFn random_;
};

// Always the same wait; for tests and for callers that pace themselves.
class FixedBackOff : public BackOffStrategy {
 public:
  explicit FixedBackOff(std::chrono::milliseconds wait) : wait_(wait) {}
  std::chrono::milliseconds NextBackOff() override { return wait_; }
  void Reset() override {}

 private:
  std::chrono::milliseconds wait_;
};

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_BACKOFF_H_
