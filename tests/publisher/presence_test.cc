#include "publisher/internal/presence.h"

#include <cmath>
#include <string>

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

}  // namespace
}  // namespace roomcast::publisher::internal
