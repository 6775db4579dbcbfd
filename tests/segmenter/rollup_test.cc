#include <gtest/gtest.h>

#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;
using testing::LikeFrom;

std::vector<v1::ActionSegment> Buckets(int64_t d, int64_t limit) {
  Bucketer b(d);
  uint64_t seq = 0;
  for (int64_t t = 60'000; t < 120'000; t += 370) {
    ++seq;
    EXPECT_TRUE(b.Add(seq % 3 ? Action(seq, t, "u" + std::to_string(seq % 5))
                              : LikeFrom(seq, t, "u1")).ok());
  }
  std::vector<v1::ActionSegment> out;
  for (ClosedBucket& c : b.Close(120'000)) {
    out.push_back(BuildSegment({.room = "lobby", .epoch = 3, .bucket_ms = d,
                                .index = c.index, .limit = limit},
                               std::move(c.messages)));
  }
  return out;
}

TEST(RollupTest, MergesAWindowInSeqOrder) {
  auto buckets = Buckets(1000, 0);
  auto r = BuildRollup(60'000, 1, buckets);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->bucket_ms(), 60'000u);
  EXPECT_EQ(r->index(), 1);
  EXPECT_EQ(r->epoch(), 3u);
  EXPECT_EQ(r->first_seq(), 1u);
  ASSERT_GT(r->messages_size(), 100);
  EXPECT_EQ(r->last_seq(), static_cast<uint64_t>(r->messages_size()));
  for (int i = 1; i < r->messages_size(); ++i) {
    EXPECT_EQ(r->messages(i).seq(), r->messages(i - 1).seq() + 1);
  }
}

TEST(RollupTest, SumsDropCountsAndKeepsTheSeqRange) {
  auto buckets = Buckets(1000, 1);  // keep one per bucket
  uint64_t dropped = 0;
  for (auto& b : buckets) for (auto& [t, n] : b.dropped()) dropped += n;
  auto r = BuildRollup(60'000, 1, buckets);
  ASSERT_TRUE(r.ok()) << r.status();
  uint64_t rdropped = 0;
  for (auto& [t, n] : r->dropped()) rdropped += n;
  EXPECT_EQ(rdropped, dropped);
  EXPECT_GT(rdropped, 0u);
  EXPECT_EQ(r->last_seq() - r->first_seq() + 1, r->messages_size() + rdropped);
}

TEST(RollupTest, IsDeterministic) {
  auto a = BuildRollup(60'000, 1, Buckets(250, 2));
  auto b = BuildRollup(60'000, 1, Buckets(250, 2));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Encode(*a).bytes, Encode(*b).bytes);
}

TEST(RollupTest, RefusesBucketsOutsideTheWindowOrOutOfOrder) {
  auto buckets = Buckets(1000, 0);
  EXPECT_FALSE(BuildRollup(60'000, 2, buckets).ok());  // wrong window
  std::vector<v1::ActionSegment> reversed(buckets.rbegin(), buckets.rend());
  EXPECT_FALSE(BuildRollup(60'000, 1, reversed).ok());
  EXPECT_FALSE(BuildRollup(60'000, 1, {}).ok());
  auto other = buckets;
  other[1].set_room("elsewhere");
  EXPECT_FALSE(BuildRollup(60'000, 1, other).ok());
}

TEST(RollupTest, RefusesAMissingNonEmptyBucket) {
  auto buckets = Buckets(1000, 0);
  buckets.erase(buckets.begin() + 3);
  auto r = BuildRollup(60'000, 1, buckets);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("seq gap"), std::string::npos);
}

TEST(RollupTest, EmptyBucketsMayBeIncludedOrLeftOut) {
  SegmentParams p{.room = "lobby", .epoch = 3, .bucket_ms = 1000, .index = 60};
  std::vector<v1::ActionSegment> with_empty;
  with_empty.push_back(BuildSegment(p, {Action(1, 60'000), Action(2, 60'500)}));
  with_empty.push_back(EmptySegment("lobby", 3, 1000, 61));
  p.index = 62;
  with_empty.push_back(BuildSegment(p, {Action(3, 62'000)}));
  std::vector<v1::ActionSegment> without = {with_empty[0], with_empty[2]};

  auto a = BuildRollup(60'000, 1, with_empty);
  auto b = BuildRollup(60'000, 1, without);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Encode(*a).bytes, Encode(*b).bytes);
  EXPECT_EQ(a->messages_size(), 3);
}

TEST(RollupTest, AWindowOverItsBudgetStopsAtTheLastBucketThatFits) {
  auto buckets = Buckets(1000, 0);
  auto whole = BuildRollup(60'000, 1, buckets);
  ASSERT_TRUE(whole.ok());
  EXPECT_FALSE(whole->has_last_bucket());
  const int64_t budget = static_cast<int64_t>(whole->ByteSizeLong()) / 3;
  auto cut = BuildRollup(60'000, 1, buckets, budget);
  ASSERT_TRUE(cut.ok()) << cut.status();
  ASSERT_TRUE(cut->has_last_bucket());
  EXPECT_LE(static_cast<int64_t>(cut->ByteSizeLong()), budget + 256);
  // It holds exactly the buckets up to last_bucket, and the next bucket
  // starts where it stops: readers continue bucket by bucket.
  uint64_t last = 0;
  for (const v1::ActionSegment& b : buckets) {
    if (b.index() <= cut->last_bucket() && b.last_seq() != 0) last = b.last_seq();
    if (b.index() == cut->last_bucket() + 1) {
      EXPECT_EQ(b.first_seq(), cut->last_seq() + 1);
    }
  }
  EXPECT_EQ(cut->last_seq(), last);
  EXPECT_EQ(cut->first_seq(), 1u);
  EXPECT_EQ(static_cast<uint64_t>(cut->messages_size()), cut->last_seq());
}

}  // namespace
}  // namespace roomcast::segmenter
