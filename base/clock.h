// Injected time (as Shaka Packager's utils/clock.h and RocksDB's
// SystemClock): the publisher reads the clock only through this, so tests
// can step it.
#ifndef ROOMCAST_BASE_CLOCK_H_
#define ROOMCAST_BASE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace roomcast::base {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in milliseconds.
  virtual int64_t NowMs() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_CLOCK_H_
