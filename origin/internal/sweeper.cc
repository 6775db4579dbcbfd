#include "origin/internal/sweeper.h"

#include <algorithm>

#include "absl/time/time.h"
#include "base/log.h"

namespace roomcast::origin {

Sweeper::Sweeper(std::chrono::milliseconds interval, SweepFn sweep)
    : interval_(std::max(interval, kMinInterval)),
      sweep_(std::move(sweep)),
      thread_([this] { Run(); }) {}

void Sweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Sweeper::Run() {
  const absl::Duration interval = absl::FromChrono(interval_);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) return;
    }
    absl::StatusOr<size_t> removed = sweep_();
    if (!removed.ok()) {
      ROOMCAST_LOG(kError, "origin", "sweep_failed").Kv("status", removed.status());
    } else if (*removed > 0) {
      ROOMCAST_LOG(kInfo, "origin", "retention_swept").Kv("removed", *removed);
    }
  }
}

}  // namespace roomcast::origin
