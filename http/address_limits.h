// Caps on something clients hold open (connections, held requests), in total
// and per client address, shared by threads. A holder keeps its slot for as
// long as it holds; beyond either cap the caller answers 503 with
// Retry-After, so one address cannot take every descriptor or every held
// request of the process.
//
//   AddressLimits limits(16384, 1024);
//   std::optional<AddressLimits::Slot> slot = limits.Acquire("10.0.0.7");
//   if (!slot) return Refuse503();
//   ... serve; the slot is released when it goes out of scope.
#ifndef ROOMCAST_HTTP_ADDRESS_LIMITS_H_
#define ROOMCAST_HTTP_ADDRESS_LIMITS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace roomcast::http {

class AddressLimits {
 public:
  AddressLimits(size_t max_total, size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // Releases its connection's place when destroyed.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(other.owner_), address_(std::move(other.address_)) {
      other.owner_ = nullptr;
    }
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->Release(address_);
    }

   private:
    friend class AddressLimits;
    Slot(AddressLimits* owner, std::string address)
        : owner_(owner), address_(std::move(address)) {}
    AddressLimits* owner_;
    std::string address_;
  };

  // A place for one more connection from `address`; nullopt if the total or
  // the address's own cap is reached.
  std::optional<Slot> Acquire(const std::string& address);
  size_t open() const;
  size_t open_from(const std::string& address) const;

 private:
  void Release(const std::string& address);

  const size_t max_total_;
  const size_t max_per_address_;
  mutable absl::Mutex mu_;
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, size_t> by_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::http

#endif  // ROOMCAST_HTTP_ADDRESS_LIMITS_H_
