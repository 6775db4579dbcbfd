// Held requests: a GET for an object about to exist waits here until the
// object is written, the publisher's watermark passes its bucket, or its
// hold limit runs out; a manifest.pb?after=V waits for a newer manifest.
//
// A waiter is a coroutine parked on a steady_timer of its own connection's
// io_context; waking it posts the timer's cancel to that io_context. No
// thread per waiter and no polling: thousands can be held at once.
//
//   auto ex = co_await boost::asio::this_coro::executor;
//   HoldRegistry::Ticket t = holds.RegisterObject(ex, key, "pub-1", bucket_end_ms);
//   if (ReadyNow()) {
//     holds.Cancel(t);                          // written before we registered
//   } else {
//     co_await holds.Wait(t, deadline);         // woken or timed out
//   }
//   ...
//   holds.NotifyKey(key);  // from the PUT handler, any thread
#ifndef ROOMCAST_ORIGIN_HOLDS_H_
#define ROOMCAST_ORIGIN_HOLDS_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"

namespace roomcast::origin {

class HoldRegistry {
 public:
  struct Waiter;
  using Ticket = std::shared_ptr<Waiter>;
  using KeyIndex = std::multimap<std::string, Ticket>;
  using TimeIndex = std::multimap<int64_t, Ticket>;
  using VersionIndex = std::multimap<uint64_t, Ticket>;

  // Registers interest before the caller re-checks whether it is ready, so a
  // write landing in between is never missed. Must be called on the io_context
  // thread that will Wait.
  Ticket RegisterObject(const boost::asio::any_io_executor& ex,
                        const std::string& key, const std::string& publisher,
                        int64_t bucket_end_ms);
  Ticket RegisterManifest(const boost::asio::any_io_executor& ex,
                          const std::string& room, uint64_t after_version);
  // Waits until woken or `deadline`. Returns how long the wake-up took to
  // reach this waiter (from the Notify call), or nullopt if it timed out.
  // Always unregisters.
  boost::asio::awaitable<std::optional<std::chrono::steady_clock::duration>> Wait(
      Ticket t, std::chrono::steady_clock::time_point deadline);
  // Unregisters a ticket that will not be waited on.
  void Cancel(const Ticket& t);

  // Wake-ups; safe from any thread. Each returns how many it woke.
  size_t NotifyKey(const std::string& key);
  size_t NotifyWatermark(const std::string& publisher, int64_t watermark_ms);
  size_t NotifyManifest(const std::string& room, uint64_t version);
  size_t WakeAll();

  size_t held() const;

 private:
  void WakeLocked(const Ticket& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const Ticket& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // Object waiters by key, and by publisher ordered by bucket end.
  KeyIndex by_key_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TimeIndex> by_watermark_ ABSL_GUARDED_BY(mu_);
  // Manifest waiters by room, ordered by the version they wait past.
  std::map<std::string, VersionIndex> by_manifest_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_HOLDS_H_
