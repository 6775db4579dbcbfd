#include "publisher/internal/presence.h"

#include <algorithm>
#include <cmath>

#include "base/crypto.h"

namespace roomcast::publisher::internal {

uint64_t HashUser(absl::string_view user) {
  const base::Sha256Digest md = base::Sha256(user);
  uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h = (h << 8) | md[i];
  return h;
}

void DistinctCounter::Add(uint64_t hash) {
  if (!registers_.empty()) return AddToSketch(hash);
  exact_.insert(hash);
  if (exact_.size() > kExactLimit) ToSketch();
}

void DistinctCounter::AddToSketch(uint64_t hash) {
  const uint64_t idx = hash >> (64 - kPrecision);
  const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
  const uint8_t rank = static_cast<uint8_t>(__builtin_clzll(rest) + 1);
  registers_[idx] = std::max(registers_[idx], rank);
}

void DistinctCounter::ToSketch() {
  registers_.assign(size_t{1} << kPrecision, 0);
  for (uint64_t h : exact_) AddToSketch(h);
  exact_.clear();
  exact_.rehash(0);
}

void DistinctCounter::Merge(const DistinctCounter& other) {
  if (other.registers_.empty()) {
    for (uint64_t h : other.exact_) Add(h);
    return;
  }
  if (registers_.empty()) ToSketch();
  for (size_t i = 0; i < registers_.size(); ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

uint64_t DistinctCounter::Estimate() const {
  if (registers_.empty()) return exact_.size();
  const double m = static_cast<double>(registers_.size());
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  const double alpha = 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / sum;
  // Linear counting where HyperLogLog is biased (small cardinalities).
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / zeros);
  return static_cast<uint64_t>(std::llround(e));
}

void PresenceCounter::Rotate(int64_t now_ms) {
  const int64_t slot = slot_ms_ > 0 ? now_ms / slot_ms_ : 0;
  if (slot == slot_) return;
  previous_ = slot == slot_ + 1 ? std::move(current_) : DistinctCounter();
  current_ = DistinctCounter();
  slot_ = slot;
}

void PresenceCounter::Heartbeat(absl::string_view user, int64_t now_ms) {
  Rotate(now_ms);
  current_.Add(HashUser(user));
}

uint64_t PresenceCounter::Count(int64_t now_ms) {
  Rotate(now_ms);
  DistinctCounter u = previous_;
  u.Merge(current_);
  return u.Estimate();
}

void PresenceTracker::Heartbeat(const std::string& room, absl::string_view user,
                                int64_t now_ms) {
  absl::MutexLock l(&mu_);
  auto [it, fresh] = rooms_.try_emplace(room, window_ms_);
  it->second.Heartbeat(user, now_ms);
}

std::vector<std::pair<std::string, uint64_t>> PresenceTracker::Changes(
    int64_t now_ms, absl::FunctionRef<bool(const std::string&)> live) {
  std::vector<std::pair<std::string, uint64_t>> changed;
  absl::MutexLock l(&mu_);
  if (now_ms < next_ms_) return changed;
  next_ms_ = now_ms + period_ms_;
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    PresenceCounter& c = it->second;
    const uint64_t n = c.Count(now_ms);
    if (!live(it->first) || (n == 0 && c.published <= 0)) {
      rooms_.erase(it++);
      continue;
    }
    if (static_cast<int64_t>(n) != c.published) {
      c.published = static_cast<int64_t>(n);
      changed.emplace_back(it->first, n);
    }
    ++it;
  }
  return changed;
}

}  // namespace roomcast::publisher::internal
