#include "http/address_limits.h"

namespace roomcast::http {

std::optional<AddressLimits::Slot> AddressLimits::Acquire(
    const std::string& address) {
  absl::MutexLock l(&mu_);
  if (total_ >= max_total_) return std::nullopt;
  size_t& mine = by_address_[address];
  if (mine >= max_per_address_) {
    if (mine == 0) by_address_.erase(address);
    return std::nullopt;
  }
  ++mine;
  ++total_;
  return Slot(this, address);
}

void AddressLimits::Release(const std::string& address) {
  absl::MutexLock l(&mu_);
  --total_;
  auto it = by_address_.find(address);
  if (it != by_address_.end() && --it->second == 0) by_address_.erase(it);
}

size_t AddressLimits::open() const {
  absl::MutexLock l(&mu_);
  return total_;
}

size_t AddressLimits::open_from(const std::string& address) const {
  absl::MutexLock l(&mu_);
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second;
}

}  // namespace roomcast::http
