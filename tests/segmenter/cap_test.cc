#include "segmenter/cap.h"

#include <gtest/gtest.h>

#include <map>

#include "segmenter/codec.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;
using testing::GiftFrom;
using testing::LikeFrom;

TEST(CapTest, BucketLimitScalesWithDuration) {
  EXPECT_EQ(BucketLimit(500, 1000), 500);
  EXPECT_EQ(BucketLimit(500, 250), 125);
  EXPECT_EQ(BucketLimit(1, 100), 1);  // never zero
  EXPECT_EQ(BucketLimit(0, 1000), 0);  // no cap
}

TEST(CapTest, UnderTheLimitEverythingIsKept) {
  std::vector<v1::Message> in = {Action(1, 0), Action(2, 0), Action(3, 0)};
  CapResult r = ApplyCap(in, 3);
  EXPECT_EQ(r.kept.size(), 3u);
  EXPECT_TRUE(r.dropped.empty());
}

TEST(CapTest, KeepsAllHighPriorityEvenAboveTheLimit) {
  std::vector<v1::Message> in;
  uint64_t seq = 0;
  for (int i = 0; i < 10; ++i) in.push_back(GiftFrom(++seq, 0, "g" + std::to_string(i)));
  in.push_back(Action(++seq, 0, "anchor-1", v1::ROLE_ANCHOR));
  for (int i = 0; i < 50; ++i) in.push_back(Action(++seq, 0, "v" + std::to_string(i)));
  CapResult r = ApplyCap(in, 5);
  ASSERT_EQ(r.kept.size(), 11u);  // 10 gifts + the anchor, no comment fits
  for (const auto& m : r.kept) EXPECT_EQ(m.priority(), v1::PRIORITY_HIGH);
  EXPECT_EQ(r.dropped.at("comment"), 50u);
}

TEST(CapTest, KeptMessagesStayInSeqOrderAndCountsAddUp) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 1000; ++s) {
    in.push_back(s % 4 ? Action(s, 0, "u" + std::to_string(s % 37))
                       : LikeFrom(s, 0, "u" + std::to_string(s % 11)));
  }
  CapResult r = ApplyCap(in, 100);
  ASSERT_EQ(r.kept.size(), 100u);
  for (size_t i = 1; i < r.kept.size(); ++i) {
    EXPECT_LT(r.kept[i - 1].seq(), r.kept[i].seq());
  }
  uint64_t dropped = 0;
  for (auto& [type, n] : r.dropped) dropped += n;
  EXPECT_EQ(dropped, 900u);
  EXPECT_GT(r.dropped.at("like"), 0u);
  EXPECT_GT(r.dropped.at("comment"), 0u);
}

TEST(CapTest, OneFloodingSenderCannotCrowdOutTheRoom) {
  std::vector<v1::Message> in;
  uint64_t seq = 0;
  for (int i = 0; i < 900; ++i) in.push_back(Action(++seq, 0, "spammer"));
  for (int i = 0; i < 20; ++i) in.push_back(Action(++seq, 0, "v" + std::to_string(i)));
  CapResult r = ApplyCap(in, 40);
  std::map<std::string, int> per_sender;
  for (const auto& m : r.kept) ++per_sender[m.sender()];
  EXPECT_EQ(per_sender.size(), 21u);  // every honest viewer got through
  EXPECT_EQ(per_sender["spammer"], 20);
}

TEST(CapTest, SampleIsUniformAcrossSeq) {
  // One message per sender: the sample must not favour early or late seqs.
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 10000; ++s) in.push_back(Action(s, 0, "u" + std::to_string(s)));
  CapResult r = ApplyCap(in, 1000);
  int first_half = 0;
  for (const auto& m : r.kept) first_half += m.seq() <= 5000;
  EXPECT_NEAR(first_half, 500, 75);  // ~5 sigma
}

TEST(CapTest, SegmentWithCapIsDeterministicAndAccountsForEverySeq) {
  auto build = [] {
    std::vector<v1::Message> in;
    for (uint64_t s = 101; s <= 400; ++s) in.push_back(LikeFrom(s, 5000, "u" + std::to_string(s % 7)));
    return BuildSegment({.room = "big", .epoch = 1, .bucket_ms = 1000, .index = 5,
                         .limit = BucketLimit(50, 1000)},
                        std::move(in));
  };
  v1::ActionSegment a = build();
  EXPECT_EQ(Encode(a).bytes, Encode(build()).bytes);
  EXPECT_EQ(a.first_seq(), 101u);
  EXPECT_EQ(a.last_seq(), 400u);
  EXPECT_EQ(a.messages_size(), 50);
  EXPECT_EQ(a.dropped().at("like"), 250u);
}

// A message that weighs about `bytes` (its comment text).
v1::Message Heavy(uint64_t seq, const std::string& sender, size_t bytes,
                  v1::Role role = v1::ROLE_AUDIENCE) {
  v1::Message m = Action(seq, 0, sender, role);
  m.mutable_comment()->set_text(std::string(bytes, 'x'));
  return m;
}

int64_t KeptBytes(const CapResult& r) {
  int64_t n = 0;
  for (const v1::Message& m : r.kept) n += static_cast<int64_t>(m.ByteSizeLong()) + 6;
  return n;
}

TEST(CapTest, ByteBudgetSamplesTheExcessIntoDropCounts) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 300; ++s) in.push_back(Heavy(s, "u" + std::to_string(s % 12), 8000));
  CapResult r = ApplyCap(in, 0);
  ApplyByteBudget(r, 1 << 20);
  EXPECT_LE(KeptBytes(r), 1 << 20);
  EXPECT_GT(KeptBytes(r), (1 << 20) - 9000) << "no more dropped than needed";
  uint64_t dropped = 0;
  for (const auto& [type, n] : r.dropped) dropped += n;
  EXPECT_EQ(r.kept.size() + dropped, 300u);
  // Seq order survives, and every sender keeps about its share.
  for (size_t i = 1; i < r.kept.size(); ++i) EXPECT_LT(r.kept[i - 1].seq(), r.kept[i].seq());
  std::map<std::string, int> per_sender;
  for (const v1::Message& m : r.kept) ++per_sender[m.sender()];
  EXPECT_EQ(per_sender.size(), 12u);
  for (const auto& [sender, n] : per_sender) EXPECT_GE(n, 9) << sender;
}

TEST(CapTest, ByteBudgetDropsHighPriorityOnlyWhenTheyAloneExceedIt) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 10; ++s) in.push_back(Heavy(s, "anchor", 100000, v1::ROLE_ANCHOR));
  for (uint64_t s = 11; s <= 20; ++s) in.push_back(Heavy(s, "fan", 100000));
  CapResult r = ApplyCap(in, 0);
  ApplyByteBudget(r, 1 << 20);  // room for all 10 anchors, no fan
  ASSERT_EQ(r.kept.size(), 10u);
  for (const v1::Message& m : r.kept) EXPECT_EQ(m.sender(), "anchor");
  CapResult tight = ApplyCap(in, 0);
  ApplyByteBudget(tight, 500000);  // not even the anchors fit
  EXPECT_LE(KeptBytes(tight), 500000);
  EXPECT_FALSE(tight.kept.empty());
}

TEST(CapTest, ByteBudgetIsDeterministic) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 200; ++s) in.push_back(Heavy(s, "u" + std::to_string(s % 7), 5000));
  CapResult a = ApplyCap(in, 150), b = ApplyCap(in, 150);
  ApplyByteBudget(a, 300000);
  ApplyByteBudget(b, 300000);
  ASSERT_EQ(a.kept.size(), b.kept.size());
  for (size_t i = 0; i < a.kept.size(); ++i) EXPECT_EQ(a.kept[i].seq(), b.kept[i].seq());
  EXPECT_EQ(a.dropped, b.dropped);
}

TEST(CapTest, SegmentOfAnOverweightBucketFitsTheObjectBudget) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 2500; ++s) in.push_back(Heavy(s, "u" + std::to_string(s % 12), 8000));
  v1::ActionSegment seg = BuildSegment({.room = "r", .epoch = 1, .bucket_ms = 10000, .index = 1}, in);
  EXPECT_LE(static_cast<int64_t>(seg.ByteSizeLong()), kMaxObjectBytes + 4096);
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 2500u);
}

}  // namespace
}  // namespace roomcast::segmenter
