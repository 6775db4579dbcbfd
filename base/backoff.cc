
#include "base/backoff.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"

namespace roomcast::base {

JitteredExponentialBackOff::JitteredExponentialBackOff(
    std::chrono::milliseconds base, std::chrono::milliseconds cap,
    RandomFn random)
    : base_(std::max<int64_t>(1, base.count())),
      cap_(std::max<int64_t>(base_, cap.count())),
      ceiling_(base_),
      random_(std::move(random)) {
  if (!random_) {
    // BitGen is not thread-safe; each strategy owns one, as it owns its
    // attempt count.
    random_ = [gen = std::make_shared<absl::BitGen>()] {
      return absl::Uniform<uint64_t>(*gen);
    };
  }
}

std::chrono::milliseconds JitteredExponentialBackOff::NextBackOff() {
  const int64_t ceiling = ceiling_;
  // Doubling stops at the cap, so ceiling_ never overflows.
  ceiling_ = ceiling_ >= cap_ / 2 ? cap_ : ceiling_ * 2;
  const uint64_t r = random_() % (static_cast<uint64_t>(ceiling) + 1);
  return std::chrono::milliseconds(static_cast<int64_t>(r));
}

}  // namespace roomcast::base
