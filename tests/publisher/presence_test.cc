#include "publisher/internal/presence.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace roomcast::publisher::internal {
namespace {

TEST(PresenceTest, SmallRoomsAreCountedExactly) {
  PresenceCounter p(30000);
  for (int i = 0; i < 100; ++i) p.Heartbeat(absl::StrCat("u", i % 40), 1000 + i);
  EXPECT_EQ(p.Count(2000), 40u);
}

TEST(PresenceTest, TenThousandUsersWithinThreePercent) {
  PresenceCounter p(30000);
  for (int i = 0; i < 10000; ++i) {
    p.Heartbeat(absl::StrCat("user-", i), 1000);
    p.Heartbeat(absl::StrCat("user-", i), 1001);  // repeats do not count
  }
  const double n = static_cast<double>(p.Count(1002));
  EXPECT_LT(std::abs(n - 10000) / 10000, 0.03) << n;
}

TEST(PresenceTest, UsersLeaveAfterTheWindow) {
  PresenceCounter p(10000);  // two 5 s slots
  p.Heartbeat("a", 0);
  p.Heartbeat("b", 6000);
  EXPECT_EQ(p.Count(6000), 2u);
  EXPECT_EQ(p.Count(11000), 1u);  // "a" aged out
  EXPECT_EQ(p.Count(30000), 0u);
}

TEST(PresenceTest, MergeOfSketchAndExactCountsTheUnion) {
  DistinctCounter big, small;
  for (int i = 0; i < 5000; ++i) big.Add(HashUser(absl::StrCat("u", i)));
  for (int i = 4990; i < 5010; ++i) small.Add(HashUser(absl::StrCat("u", i)));
  big.Merge(small);
  EXPECT_NEAR(static_cast<double>(big.Estimate()), 5010, 5010 * 0.03);
}

using Changes = std::vector<std::pair<std::string, uint64_t>>;

TEST(PresenceTrackerTest, CountsChangesAtMostOncePerPeriod) {
  PresenceTracker t(/*period_ms=*/5000, /*window_ms=*/30000);
  auto live = [](const std::string&) { return true; };
  t.Heartbeat("lobby", "a", 1000);
  t.Heartbeat("lobby", "b", 1000);
  t.Heartbeat("lobby", "a", 1000);
  EXPECT_EQ(t.Changes(1000, live), (Changes{{"lobby", 2}}));
  t.Heartbeat("lobby", "c", 2000);
  EXPECT_TRUE(t.Changes(2000, live).empty());  // within the period
  EXPECT_EQ(t.Changes(6000, live), (Changes{{"lobby", 3}}));
  EXPECT_TRUE(t.Changes(11000, live).empty());  // unchanged: nothing to publish
}

TEST(PresenceTrackerTest, RoomThatEndedIsForgotten) {
  PresenceTracker t(5000, 30000);
  bool lobby_live = true;
  auto live = [&](const std::string& room) { return room != "lobby" || lobby_live; };
  t.Heartbeat("lobby", "a", 1000);
  t.Heartbeat("other", "a", 1000);
  EXPECT_EQ(t.Changes(1000, live).size(), 2u);
  lobby_live = false;
  t.Heartbeat("lobby", "b", 2000);
  t.Heartbeat("other", "b", 2000);
  EXPECT_EQ(t.Changes(6000, live), (Changes{{"other", 2}}));
}

}  // namespace
}  // namespace roomcast::publisher::internal
