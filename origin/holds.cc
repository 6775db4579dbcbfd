#include "origin/holds.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace roomcast::origin {
namespace asio = boost::asio;

struct HoldRegistry::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool woken = false;      // guarded by the registry's mu_
  std::chrono::steady_clock::time_point woken_at;
  bool registered = true;  // guarded by the registry's mu_
  std::string key;         // object waiters: key + publisher
  std::string publisher;
  int64_t bucket_end_ms = 0;
  std::string room;        // manifest waiters
  uint64_t after_version = 0;
  // Where this waiter sits in the indexes, for O(log n) removal.
  KeyIndex::iterator key_it;
  TimeIndex::iterator wm_it;
  VersionIndex::iterator manifest_it;
};

HoldRegistry::Ticket HoldRegistry::RegisterObject(const asio::any_io_executor& ex,
                                                  const std::string& key,
                                                  const std::string& publisher,
                                                  int64_t bucket_end_ms) {
  auto t = std::make_shared<Waiter>(ex);
  t->key = key;
  t->publisher = publisher;
  t->bucket_end_ms = bucket_end_ms;
  absl::MutexLock lock(&mu_);
  t->key_it = by_key_.emplace(key, t);
  t->wm_it = by_watermark_[publisher].emplace(bucket_end_ms, t);
  ++held_;
  return t;
}

HoldRegistry::Ticket HoldRegistry::RegisterManifest(const asio::any_io_executor& ex,
                                                    const std::string& room,
                                                    uint64_t after_version) {
  auto t = std::make_shared<Waiter>(ex);
  t->room = room;
  t->after_version = after_version;
  absl::MutexLock lock(&mu_);
  t->manifest_it = by_manifest_[room].emplace(after_version, t);
  ++held_;
  return t;
}

asio::awaitable<std::optional<std::chrono::steady_clock::duration>>
HoldRegistry::Wait(Ticket t, std::chrono::steady_clock::time_point deadline) {
  bool early = false;
  {
    absl::MutexLock lock(&mu_);
    early = t->woken;
  }
  if (!early) {
    t->timer.expires_at(deadline);
    co_await t->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  absl::MutexLock lock(&mu_);
  EraseLocked(t);
  if (!t->woken) co_return std::nullopt;
  co_return std::chrono::steady_clock::now() - t->woken_at;
}

void HoldRegistry::Cancel(const Ticket& t) {
  absl::MutexLock lock(&mu_);
  EraseLocked(t);
}

void HoldRegistry::EraseLocked(const Ticket& t) {
  if (!t->registered) return;
  t->registered = false;
  --held_;
  if (!t->room.empty()) {
    auto it = by_manifest_.find(t->room);
    it->second.erase(t->manifest_it);
    if (it->second.empty()) by_manifest_.erase(it);
    return;
  }
  by_key_.erase(t->key_it);
  auto it = by_watermark_.find(t->publisher);
  it->second.erase(t->wm_it);
  if (it->second.empty()) by_watermark_.erase(it);
}

void HoldRegistry::WakeLocked(const Ticket& t) {
  if (t->woken) return;
  t->woken = true;
  t->woken_at = std::chrono::steady_clock::now();
  // The timer belongs to its connection's single-threaded io_context: cancel
  // it there. If the waiter has not reached async_wait yet, Wait() sees woken.
  asio::post(t->timer.get_executor(), [t] { t->timer.cancel(); });
}

size_t HoldRegistry::NotifyKey(const std::string& key) {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  auto [b, e] = by_key_.equal_range(key);
  for (auto it = b; it != e; ++it, ++n) WakeLocked(it->second);
  return n;
}

size_t HoldRegistry::NotifyWatermark(const std::string& publisher,
                                     int64_t watermark_ms) {
  absl::MutexLock lock(&mu_);
  auto it = by_watermark_.find(publisher);
  if (it == by_watermark_.end()) return 0;
  size_t n = 0;
  for (auto w = it->second.begin();
       w != it->second.end() && w->first <= watermark_ms; ++w, ++n) {
    WakeLocked(w->second);
  }
  return n;
}

size_t HoldRegistry::NotifyManifest(const std::string& room, uint64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = by_manifest_.find(room);
  if (it == by_manifest_.end()) return 0;
  size_t n = 0;
  for (auto w = it->second.begin(); w != it->second.end() && w->first < version;
       ++w, ++n) {
    WakeLocked(w->second);
  }
  return n;
}

size_t HoldRegistry::WakeAll() {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (auto& [k, t] : by_key_) WakeLocked(t), ++n;
  for (auto& [room, mm] : by_manifest_) {
    for (auto& [v, t] : mm) WakeLocked(t), ++n;
  }
  return n;
}

size_t HoldRegistry::held() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

}  // namespace roomcast::origin
