// origin/holds.cc: held requests parked on one io_context and woken by key,
// by watermark, by manifest version or all at once; deadlines; cancel;
// thousands at once; wake-ups from another thread.
#include "origin/holds.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace roomcast::origin {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What became of one Wait.
struct Outcome {
  bool done = false;
  std::optional<Clock::duration> woke;  // nullopt: timed out
};

boost::asio::awaitable<void> WaitInto(HoldRegistry* holds, HoldRegistry::Ticket t,
                                      Clock::time_point deadline,
                                      std::shared_ptr<Outcome> out) {
  out->woke = co_await holds->Wait(std::move(t), deadline);
  out->done = true;
}

class HoldRegistryTest : public ::testing::Test {
 protected:
  // Parks a waiter for `key` (publisher "pub-1", bucket ending at end_ms).
  std::shared_ptr<Outcome> HoldObject(const std::string& key, int64_t end_ms,
                                      std::chrono::milliseconds limit = 10s) {
    return Park(holds_.RegisterObject(io_.get_executor(), key, "pub-1", end_ms), limit);
  }
  std::shared_ptr<Outcome> HoldManifest(const std::string& room, uint64_t after,
                                        std::chrono::milliseconds limit = 10s) {
    return Park(holds_.RegisterManifest(io_.get_executor(), room, after), limit);
  }
  std::shared_ptr<Outcome> Park(HoldRegistry::Ticket t, std::chrono::milliseconds limit) {
    auto out = std::make_shared<Outcome>();
    boost::asio::co_spawn(io_, WaitInto(&holds_, std::move(t), Clock::now() + limit, out),
                          boost::asio::detached);
    io_.restart();  // in case an earlier run ran out of work
    io_.poll();     // up to its timer
    return out;
  }
  // Runs the io_context until `done` or 5 s.
  void RunUntil(const std::function<bool()>& done) {
    const auto limit = Clock::now() + 5s;
    io_.restart();
    while (!done() && Clock::now() < limit) io_.run_one_for(10ms);
  }
  void TearDown() override {  // nothing may stay parked past a test
    holds_.WakeAll();
    io_.restart();
    io_.run_for(5s);
  }

  boost::asio::io_context io_;
  HoldRegistry holds_;
};

TEST_F(HoldRegistryTest, NotifyKeyWakesOnlyThatKeysWaiters) {
  auto a1 = HoldObject("r/lobby/a/1", 1000);
  auto a2 = HoldObject("r/lobby/a/1", 1000);
  auto b = HoldObject("r/lobby/a/2", 2000);
  EXPECT_EQ(holds_.held(), 3u);
  EXPECT_EQ(holds_.NotifyKey("r/lobby/a/1"), 2u);
  RunUntil([&] { return a1->done && a2->done; });
  EXPECT_TRUE(a1->woke.has_value());
  EXPECT_TRUE(a2->woke.has_value());
  io_.poll();
  EXPECT_FALSE(b->done);
  EXPECT_EQ(holds_.held(), 1u);
}

TEST_F(HoldRegistryTest, WatermarkWakesBucketsEndingAtOrBeforeIt) {
  auto early = HoldObject("k1", 1000);
  auto at = HoldObject("k2", 2000);
  auto later = HoldObject("k3", 3000);
  EXPECT_EQ(holds_.NotifyWatermark("pub-2", 5000), 0u);  // another publisher's
  EXPECT_EQ(holds_.NotifyWatermark("pub-1", 2000), 2u);
  RunUntil([&] { return early->done && at->done; });
  EXPECT_TRUE(early->woke && at->woke);
  io_.poll();
  EXPECT_FALSE(later->done);
}

TEST_F(HoldRegistryTest, ManifestVersionWakesOnlyWaitersItIsNewerThan) {
  auto after1 = HoldManifest("lobby", 1);
  auto after2 = HoldManifest("lobby", 2);
  auto other_room = HoldManifest("arena", 0);
  EXPECT_EQ(holds_.NotifyManifest("lobby", 2), 1u);  // 2 is not newer than 2
  RunUntil([&] { return after1->done; });
  EXPECT_TRUE(after1->woke.has_value());
  io_.poll();
  EXPECT_FALSE(after2->done);
  EXPECT_FALSE(other_room->done);
  EXPECT_EQ(holds_.NotifyManifest("lobby", 3), 1u);
  RunUntil([&] { return after2->done; });
  EXPECT_TRUE(after2->woke.has_value());
}

TEST_F(HoldRegistryTest, UnwokenWaiterTimesOutAtItsDeadline) {
  const auto t0 = Clock::now();
  auto w = HoldObject("k", 1000, 50ms);
  RunUntil([&] { return w->done; });
  ASSERT_TRUE(w->done);
  EXPECT_FALSE(w->woke.has_value());
  EXPECT_GE(Clock::now() - t0, 50ms);
  EXPECT_EQ(holds_.held(), 0u);
  EXPECT_EQ(holds_.NotifyKey("k"), 0u);  // unregistered when it timed out
}

TEST_F(HoldRegistryTest, WakeBetweenRegisterAndWaitIsNotMissed) {
  HoldRegistry::Ticket t = holds_.RegisterObject(io_.get_executor(), "k", "pub-1", 1000);
  EXPECT_EQ(holds_.NotifyKey("k"), 1u);  // before the waiter reached Wait
  const auto t0 = Clock::now();
  auto w = Park(std::move(t), 10s);
  RunUntil([&] { return w->done; });
  EXPECT_TRUE(w->woke.has_value());
  EXPECT_LT(Clock::now() - t0, 1s);
}

TEST_F(HoldRegistryTest, CancelledTicketIsNoLongerHeldOrWoken) {
  HoldRegistry::Ticket obj = holds_.RegisterObject(io_.get_executor(), "k", "pub-1", 1000);
  HoldRegistry::Ticket man = holds_.RegisterManifest(io_.get_executor(), "lobby", 4);
  EXPECT_EQ(holds_.held(), 2u);
  holds_.Cancel(obj);
  holds_.Cancel(man);
  holds_.Cancel(man);  // twice is harmless
  EXPECT_EQ(holds_.held(), 0u);
  EXPECT_EQ(holds_.NotifyKey("k"), 0u);
  EXPECT_EQ(holds_.NotifyWatermark("pub-1", 5000), 0u);
  EXPECT_EQ(holds_.NotifyManifest("lobby", 5), 0u);
}

TEST_F(HoldRegistryTest, WakeAllAnswersObjectAndManifestWaiters) {
  auto obj = HoldObject("k", 1000);
  auto man = HoldManifest("lobby", 9);
  EXPECT_EQ(holds_.WakeAll(), 2u);
  RunUntil([&] { return obj->done && man->done; });
  EXPECT_TRUE(obj->woke && man->woke);
  EXPECT_EQ(holds_.held(), 0u);
}

TEST_F(HoldRegistryTest, ThousandsHeldAtOnceAreWokenExactlyByTheirBucket) {
  constexpr int kWaiters = 5000;
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < kWaiters; ++i) {
    outs.push_back(HoldObject("k" + std::to_string(i % 10), 1000 * (i % 10)));
  }
  EXPECT_EQ(holds_.held(), static_cast<size_t>(kWaiters));
  // Buckets 0..4 end at or before 4000: half of them.
  EXPECT_EQ(holds_.NotifyWatermark("pub-1", 4000), static_cast<size_t>(kWaiters / 2));
  auto woken = [&] {
    size_t n = 0;
    for (const auto& o : outs) n += o->done;
    return n;
  };
  RunUntil([&] { return woken() == kWaiters / 2; });
  EXPECT_EQ(woken(), static_cast<size_t>(kWaiters / 2));
  EXPECT_EQ(holds_.held(), static_cast<size_t>(kWaiters / 2));
  for (int i = 0; i < kWaiters; ++i) EXPECT_EQ(outs[i]->done, i % 10 < 5) << i;
}

TEST_F(HoldRegistryTest, NotifyFromAnotherThreadWakesTheWaiter) {
  auto w = HoldObject("k", 1000);
  std::thread writer([&] { EXPECT_EQ(holds_.NotifyKey("k"), 1u); });
  RunUntil([&] { return w->done; });
  writer.join();
  EXPECT_TRUE(w->woke.has_value());
}

}  // namespace
}  // namespace roomcast::origin
