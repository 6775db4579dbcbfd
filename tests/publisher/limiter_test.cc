#include "publisher/internal/limiter.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace roomcast::publisher::internal {
namespace {

constexpr int64_t kT0 = 1'000'000;

TEST(RateLimiterTest, BurstPassesThenTheNextWaitsForItsToken) {
  RateLimiter limiter({.user_per_s = 2, .user_burst = 3, .room_per_s = 0});
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  // One token is missing; at 2 per second it takes 500 ms to come.
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 500);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0 + 499), 2);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0 + 500), 0);
}

TEST(RateLimiterTest, RefusalTakesNothing) {
  RateLimiter limiter({.user_per_s = 1, .user_burst = 2, .room_per_s = 0});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 2, kT0), 0);
  // Refused again and again: waiting still costs only the one token.
  for (int i = 0; i < 5; ++i)
    EXPECT_GT(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0 + 1000), 0);
}

TEST(RateLimiterTest, BatchNeedsAllItsTokensAtOnce) {
  RateLimiter limiter({.user_per_s = 10, .user_burst = 10, .room_per_s = 0});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 8, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 5, kT0), 300);  // 3 missing at 10/s
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 2, kT0), 0);
}

TEST(RateLimiterTest, UsersHaveABucketEachPerRoom) {
  RateLimiter limiter({.user_per_s = 1, .user_burst = 1, .room_per_s = 0});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  EXPECT_GT(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u2", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("other", "u1", 1, kT0), 0);
}

TEST(RateLimiterTest, RoomBudgetIsSharedByItsUsers) {
  RateLimiter limiter({.user_per_s = 0, .room_per_s = 1, .room_burst = 3});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 2, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u2", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u3", 1, kT0), 1000);
  EXPECT_EQ(limiter.Acquire("other", "u3", 1, kT0), 0);
}

TEST(RateLimiterTest, TheLongerWaitOfUserAndRoomIsAnswered) {
  RateLimiter limiter(
      {.user_per_s = 4, .user_burst = 1, .room_per_s = 1, .room_burst = 1});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0),
            1000);  // room: 1 s, user: 250 ms
}

TEST(RateLimiterTest, ZeroRatesMeanUnlimited) {
  RateLimiter limiter({.user_per_s = 0, .room_per_s = 0});
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(limiter.Acquire("lobby", "u1", 100, kT0), 0);
}

TEST(RateLimiterTest, ClockGoingBackRefillsNothing) {
  RateLimiter limiter({.user_per_s = 1, .user_burst = 1, .room_per_s = 0});
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 0);
  EXPECT_GT(limiter.Acquire("lobby", "u1", 1, kT0 - 5000), 0);
}

TEST(RateLimiterTest, ManySendersAreSweptAndStillLimited) {
  RateLimiter limiter({.user_per_s = 1, .user_burst = 1, .room_per_s = 0});
  // Past the sweep threshold: refilled buckets are dropped, which must not
  // forget a sender that is still empty.
  for (int i = 0; i < 100005; ++i) {
    ASSERT_EQ(limiter.Acquire("lobby", absl::StrCat("u", i), 1, kT0 - 2000), 0);
  }
  EXPECT_EQ(limiter.Acquire("lobby", "hot", 1, kT0), 0);
  EXPECT_EQ(limiter.Acquire("lobby", "u1", 1, kT0), 0);  // refilled long ago
  EXPECT_GT(limiter.Acquire("lobby", "hot", 1, kT0), 0);
}

}  // namespace
}  // namespace roomcast::publisher::internal
