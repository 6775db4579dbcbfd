#include "base/backoff.h"

#include <chrono>
#include <cstdint>
#include <set>

#include "gtest/gtest.h"

namespace roomcast::base {
namespace {

using std::chrono::milliseconds;

// r % (c + 1) == c for every ceiling c in {100, 200, 400, 800, 1000}: a
// "random" value that makes each wait equal its ceiling.
constexpr uint64_t kHitsEveryCeiling =
    uint64_t{101} * 201 * 401 * 801 * 1001 - 1;

TEST(JitteredExponentialBackOffTest, CeilingDoublesUpToTheCap) {
  JitteredExponentialBackOff b(milliseconds(100), milliseconds(1000),
                               [] { return kHitsEveryCeiling; });
  EXPECT_EQ(b.NextBackOff(), milliseconds(100));
  EXPECT_EQ(b.NextBackOff(), milliseconds(200));
  EXPECT_EQ(b.NextBackOff(), milliseconds(400));
  EXPECT_EQ(b.NextBackOff(), milliseconds(800));
  EXPECT_EQ(b.NextBackOff(), milliseconds(1000));
  EXPECT_EQ(b.NextBackOff(), milliseconds(1000));
}

TEST(JitteredExponentialBackOffTest, FullJitterMayWaitZero) {
  JitteredExponentialBackOff b(milliseconds(100), milliseconds(1000),
                               [] { return uint64_t{0}; });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.NextBackOff(), milliseconds(0));
}

TEST(JitteredExponentialBackOffTest, ResetStartsOverFromBase) {
  JitteredExponentialBackOff b(milliseconds(100), milliseconds(1000),
                               [] { return kHitsEveryCeiling; });
  b.NextBackOff();
  b.NextBackOff();
  b.NextBackOff();
  b.Reset();
  EXPECT_EQ(b.NextBackOff(), milliseconds(100));
  EXPECT_EQ(b.NextBackOff(), milliseconds(200));
}

TEST(JitteredExponentialBackOffTest, ManyAttemptsNeverOverflowPastTheCap) {
  const milliseconds cap = std::chrono::hours(1);
  JitteredExponentialBackOff b(milliseconds(1), cap,
                               [] { return ~uint64_t{0}; });
  for (int i = 0; i < 200; ++i) {
    const milliseconds w = b.NextBackOff();
    ASSERT_GE(w.count(), 0) << "attempt " << i;
    ASSERT_LE(w, cap) << "attempt " << i;
  }
}

TEST(JitteredExponentialBackOffTest, CapBelowBaseIsRaisedToBase) {
  JitteredExponentialBackOff b(milliseconds(100), milliseconds(10),
                               [] { return kHitsEveryCeiling; });
  EXPECT_EQ(b.NextBackOff(), milliseconds(100));
  EXPECT_EQ(b.NextBackOff(), milliseconds(100));
}

TEST(JitteredExponentialBackOffTest, DefaultRandomSpreadsWaitsOverTheRange) {
  // Full jitter: waits of one attempt spread over [0, base], so retrying
  // clients do not synchronise. 2000 draws over 101 values: all in range,
  // and far more than a handful distinct (fails only for a constant source).
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    JitteredExponentialBackOff b(milliseconds(100), milliseconds(1000));
    const int64_t w = b.NextBackOff().count();
    ASSERT_GE(w, 0);
    ASSERT_LE(w, 100);
    seen.insert(w);
  }
  EXPECT_GT(seen.size(), 50u);
}

TEST(FixedBackOffTest, AlwaysWaitsTheSame) {
  FixedBackOff b(milliseconds(7));
  EXPECT_EQ(b.NextBackOff(), milliseconds(7));
  EXPECT_EQ(b.NextBackOff(), milliseconds(7));
}

}  // namespace
}  // namespace roomcast::base
