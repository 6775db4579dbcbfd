#include "segmenter/bucketer.h"

#include <gtest/gtest.h>

#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

TEST(BucketerTest, BucketMathFollowsTheDesign) {
  EXPECT_EQ(BucketIndex(0, 1000), 0);
  EXPECT_EQ(BucketIndex(999, 1000), 0);
  EXPECT_EQ(BucketIndex(1000, 1000), 1);
  EXPECT_EQ(BucketIndex(1764290000999, 1000), 1764290000);
  EXPECT_EQ(BucketIndex(-1, 1000), -1);  // floor, not truncation
  EXPECT_EQ(BucketStart(7, 250), 1750);
  EXPECT_EQ(BucketEnd(7, 250), 2000);
}

TEST(BucketerTest, BucketAndRollupDurationsAreValidated) {
  EXPECT_TRUE(ValidateBucketMs(100).ok());
  EXPECT_TRUE(ValidateBucketMs(60000).ok());
  EXPECT_FALSE(ValidateBucketMs(99).ok());
  EXPECT_FALSE(ValidateBucketMs(60001).ok());
  EXPECT_TRUE(ValidateRollupMs(250, 60000).ok());
  EXPECT_FALSE(ValidateRollupMs(700, 60000).ok());  // not a multiple
  EXPECT_FALSE(ValidateRollupMs(1000, 500).ok());
}

TEST(BucketerTest, ClosesOnlyBucketsEndingAtOrBeforeTheWatermark) {
  Bucketer b(1000);
  ASSERT_TRUE(b.Add(Action(1, 10'000)).ok());
  ASSERT_TRUE(b.Add(Action(2, 10'999)).ok());
  ASSERT_TRUE(b.Add(Action(3, 11'000)).ok());
  ASSERT_TRUE(b.Add(Action(4, 13'500)).ok());

  EXPECT_TRUE(b.Close(10'999).empty());  // bucket 10 ends at 11000
  auto closed = b.Close(11'000);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].index, 10);
  ASSERT_EQ(closed[0].messages.size(), 2u);
  EXPECT_EQ(closed[0].messages[1].seq(), 2u);

  closed = b.Close(14'000);  // 11 and 13; 12 was empty and is not returned
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0].index, 11);
  EXPECT_EQ(closed[1].index, 13);
  EXPECT_EQ(b.open_messages(), 0u);
}

TEST(BucketerTest, LateMessageForAClosedBucketIsRefused) {
  Bucketer b(1000);
  b.Close(5000);
  auto st = b.Add(Action(1, 4999));
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_TRUE(b.Add(Action(1, 5000)).ok());
}

TEST(BucketerTest, SeqAndTimeMustNotGoBack) {
  Bucketer b(1000);
  ASSERT_TRUE(b.Add(Action(5, 2000)).ok());
  EXPECT_FALSE(b.Add(Action(5, 2001)).ok());  // same seq
  EXPECT_FALSE(b.Add(Action(6, 1999)).ok());  // earlier time
  EXPECT_TRUE(b.Add(Action(6, 2000)).ok());
}

TEST(BucketerTest, WatermarkNeverMovesBack) {
  Bucketer b(1000);
  b.Close(5000);
  b.Close(3000);
  EXPECT_EQ(b.watermark_ms(), 5000);
}

TEST(BucketerTest, StamperKeepsTimeMonotonicAndAboveTheWatermark) {
  MonotonicStamper s;
  EXPECT_EQ(s.Stamp(1000, 0), 1000);
  EXPECT_EQ(s.Stamp(900, 0), 1000);    // clock stepped back
  EXPECT_EQ(s.Stamp(1100, 2000), 2000);  // never late for the open bucket
  EXPECT_EQ(s.Stamp(2500, 0), 2500);
}

}  // namespace
}  // namespace roomcast::segmenter
