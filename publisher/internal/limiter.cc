#include "publisher/internal/limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace roomcast::publisher::internal {
namespace {

constexpr size_t kSweepAbove = 100000;

int64_t WaitMs(double missing, double rate) {
  if (rate <= 0) return 1000;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing / rate * 1000)));
}

}  // namespace

double RateLimiter::Level(const Bucket* b, double rate, double burst,
                          int64_t now) {
  if (b == nullptr) return burst;
  const double elapsed_s = std::max<int64_t>(0, now - b->at_ms) / 1000.0;
  return std::min(burst, b->tokens + elapsed_s * rate);
}

int64_t RateLimiter::Acquire(absl::string_view room, absl::string_view user,
                             double n, int64_t now_ms) {
  absl::MutexLock l(&mu_);
  if (users_.size() + rooms_.size() > kSweepAbove) Sweep(now_ms);
  const std::string ukey = absl::StrCat(room, "/", user);
  auto uit = users_.find(ukey);
  auto rit = rooms_.find(room);
  const bool limit_user = limits_.user_per_s > 0;
  const bool limit_room = limits_.room_per_s > 0;
  const double u = Level(uit == users_.end() ? nullptr : &uit->second,
                         limits_.user_per_s, limits_.user_burst, now_ms);
  const double r = Level(rit == rooms_.end() ? nullptr : &rit->second,
                         limits_.room_per_s, limits_.room_burst, now_ms);
  int64_t wait = 0;
  if (limit_user && u < n) wait = WaitMs(n - u, limits_.user_per_s);
  if (limit_room && r < n) wait = std::max(wait, WaitMs(n - r, limits_.room_per_s));
  if (wait > 0) return wait;
  if (limit_user) users_[ukey] = {u - n, now_ms};
  if (limit_room) rooms_[std::string(room)] = {r - n, now_ms};
  return 0;
}

void RateLimiter::Sweep(int64_t now_ms) {
  // A bucket that has refilled is the same as no bucket.
  absl::erase_if(users_, [&](const auto& e) {
    return Level(&e.second, limits_.user_per_s, limits_.user_burst, now_ms) >=
           limits_.user_burst;
  });
  absl::erase_if(rooms_, [&](const auto& e) {
    return Level(&e.second, limits_.room_per_s, limits_.room_burst, now_ms) >=
           limits_.room_burst;
  });
}

}  // namespace roomcast::publisher::internal
