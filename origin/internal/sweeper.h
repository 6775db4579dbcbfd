// The retention sweeper: a thread that calls `sweep` every `interval` (the
// first call one interval after start) and logs what it removed or why it
// failed, until stopped. Stopping does not wait out the interval. Internal
// to origin/; OriginServer owns one.
//
//   Sweeper sweeper(std::chrono::seconds(60), [&] { return origin->SweepExpired(); });
//   ...
//   sweeper.Stop();  // or its destructor
#ifndef ROOMCAST_ORIGIN_INTERNAL_SWEEPER_H_
#define ROOMCAST_ORIGIN_INTERNAL_SWEEPER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::origin {

class Sweeper {
 public:
  // How many objects it removed.
  using SweepFn = std::function<absl::StatusOr<size_t>()>;

  // Intervals below kMinInterval are raised to it: a sweep is a RocksDB
  // scan, not something to spin on.
  static constexpr std::chrono::milliseconds kMinInterval{100};

  Sweeper(std::chrono::milliseconds interval, SweepFn sweep);
  ~Sweeper() { Stop(); }
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Waits for a sweep in progress, then joins. Idempotent.
  void Stop();

 private:
  void Run();

  const std::chrono::milliseconds interval_;
  const SweepFn sweep_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_SWEEPER_H_
