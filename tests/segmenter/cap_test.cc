// The online big-room cap (segmenter/cap.h): one decision per record in seq
// order, so what a publisher streamed is what the segment holds.
#include "segmenter/cap.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;
using testing::GiftFrom;
using testing::LikeFrom;

// A message that weighs about `bytes` (its comment text).
v1::Message Heavy(uint64_t seq, const std::string& sender, size_t bytes,
                  v1::Role role = v1::ROLE_AUDIENCE) {
  v1::Message m = Action(seq, 0, sender, role);
  m.mutable_comment()->set_text(std::string(bytes, 'x'));
  return m;
}

// The messages `cap` admits, in order.
std::vector<v1::Message> Admitted(OnlineCap& cap,
                                  const std::vector<v1::Message>& in) {
  std::vector<v1::Message> out;
  for (const v1::Message& m : in) {
    if (cap.Admit(m)) out.push_back(m);
  }
  return out;
}

uint64_t TotalDropped(const OnlineCap& cap) {
  uint64_t n = 0;
  for (const auto& [type, count] : cap.dropped()) n += count;
  return n;
}

TEST(CapTest, BucketLimitScalesWithDuration) {
  EXPECT_EQ(BucketLimit(500, 1000), 500);
  EXPECT_EQ(BucketLimit(500, 250), 125);
  EXPECT_EQ(BucketLimit(1, 100), 1);   // never zero
  EXPECT_EQ(BucketLimit(0, 1000), 0);  // no cap
}

TEST(CapTest, RecordBytesIsTheEncodedRecordsSize) {
  for (size_t n : {0, 10, 120, 130, 20000}) {
    const v1::Message m = Heavy(1, "u", n);
    EXPECT_EQ(RecordBytes(m), static_cast<int64_t>(EncodeRecord(m).size()))
        << n;
  }
}

TEST(CapTest, WithoutLimitOrBudgetEverythingIsKept) {
  OnlineCap cap(0, 0);
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 500; ++s) in.push_back(Action(s, 0, "spammer"));
  EXPECT_EQ(Admitted(cap, in).size(), 500u);
  EXPECT_TRUE(cap.dropped().empty());
}

TEST(CapTest, LimitIsRespectedAndDropsAreCountedByType) {
  OnlineCap cap(100, 0);
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 1000; ++s) {
    in.push_back(s % 4 ? Action(s, 0, "u" + std::to_string(s % 37))
                       : LikeFrom(s, 0, "u" + std::to_string(s % 11)));
  }
  std::map<std::string, uint64_t> refused;
  size_t kept = 0;
  for (const v1::Message& m : in) {
    if (cap.Admit(m)) {
      ++kept;
    } else {
      ++refused[TypeName(m)];
    }
  }
  EXPECT_EQ(kept, 100u);
  EXPECT_EQ(cap.kept(), 100);
  EXPECT_EQ(cap.dropped(), refused);
  EXPECT_EQ(TotalDropped(cap), 900u);
  EXPECT_GT(cap.dropped().at("like"), 0u);
  EXPECT_GT(cap.dropped().at("comment"), 0u);
}

TEST(CapTest, HighPriorityIsKeptBeyondTheLimit) {
  OnlineCap cap(5, 0);
  std::vector<v1::Message> in;
  uint64_t seq = 0;
  for (int i = 0; i < 50; ++i)
    in.push_back(Action(++seq, 0, "v" + std::to_string(i)));
  for (int i = 0; i < 10; ++i)
    in.push_back(GiftFrom(++seq, 0, "g" + std::to_string(i)));
  in.push_back(Action(++seq, 0, "anchor-1", v1::ROLE_ANCHOR));
  const std::vector<v1::Message> kept = Admitted(cap, in);
  ASSERT_EQ(kept.size(), 16u);  // the first 5 comments, 10 gifts, the anchor
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(kept[i].seq(), i + 1);
  for (size_t i = 5; i < kept.size(); ++i)
    EXPECT_EQ(kept[i].priority(), v1::PRIORITY_HIGH);
  EXPECT_EQ(cap.dropped().at("comment"), 45u);
}

TEST(CapTest, OneFloodingSenderTakesAtMostAQuarter) {
  for (int64_t limit : {1, 3, 4, 5, 40, 101}) {
    OnlineCap cap(limit, 0);
    std::vector<v1::Message> in;
    uint64_t seq = 0;
    for (int i = 0; i < 900; ++i) in.push_back(Action(++seq, 0, "spammer"));
    for (int i = 0; i < 200; ++i)
      in.push_back(Action(++seq, 0, "v" + std::to_string(i % 50)));
    std::map<std::string, int64_t> per_sender;
    for (const v1::Message& m : Admitted(cap, in)) ++per_sender[m.sender()];
    const int64_t share = std::max<int64_t>(1, (limit + 3) / 4);
    for (const auto& [sender, n] : per_sender)
      EXPECT_LE(n, share) << sender << " " << limit;
    EXPECT_EQ(per_sender["spammer"], share) << limit;
    EXPECT_EQ(cap.kept(), limit) << "honest viewers fill the rest";
  }
}

TEST(CapTest, HighPriorityIsKeptWithinTheByteBudget) {
  constexpr int64_t kBudget = 1 << 20;
  OnlineCap cap(0, kBudget);
  std::vector<v1::Message> in;
  uint64_t seq = 0;
  // A flood of normal ones first: they stop at 3/4 of the budget ...
  for (int i = 0; i < 200; ++i)
    in.push_back(Heavy(++seq, "fan" + std::to_string(i), 8000));
  // ... so anchors arriving after it still get the last quarter.
  for (int i = 0; i < 40; ++i)
    in.push_back(Heavy(++seq, "anchor", 8000, v1::ROLE_ANCHOR));
  int64_t normal_bytes = 0, high_bytes = 0;
  int high = 0;
  for (const v1::Message& m : Admitted(cap, in)) {
    (m.priority() == v1::PRIORITY_HIGH ? high_bytes : normal_bytes) +=
        RecordBytes(m);
    high += m.priority() == v1::PRIORITY_HIGH;
  }
  EXPECT_LE(normal_bytes, kBudget * 3 / 4);
  EXPECT_GT(normal_bytes, kBudget * 3 / 4 - 8100)
      << "no more dropped than needed";
  EXPECT_LE(normal_bytes + high_bytes, kBudget);
  EXPECT_GE(high, 30);  // (1 MiB / 4) / 8 KB
  EXPECT_GT(normal_bytes + high_bytes, kBudget - 8100);
  EXPECT_EQ(cap.kept_bytes(), normal_bytes + high_bytes);
  EXPECT_EQ(static_cast<uint64_t>(cap.kept()) + TotalDropped(cap), in.size());
}

TEST(CapTest, ARefusedHeavyRecordLeavesRoomForLighterOnes) {
  OnlineCap cap(0, 100000);
  EXPECT_TRUE(cap.Admit(Heavy(1, "a", 60000)));
  EXPECT_FALSE(cap.Admit(Heavy(2, "b", 60000)));  // over 3/4 of the budget
  EXPECT_TRUE(cap.Admit(Heavy(3, "c", 10000)));
  EXPECT_TRUE(cap.Admit(Heavy(4, "anchor", 25000, v1::ROLE_ANCHOR)));
  EXPECT_FALSE(cap.Admit(
      Heavy(5, "anchor", 25000, v1::ROLE_ANCHOR)));  // over the budget
  EXPECT_EQ(cap.dropped().at("comment"), 2u);
}

// A random bucket: senders, types, priorities and sizes mixed.
std::vector<v1::Message> RandomBucket(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<v1::Message> in;
  for (int i = 0; i < n; ++i) {
    const uint64_t seq = 1000 + static_cast<uint64_t>(i);
    const std::string sender = "u" + std::to_string(rng() % 13);
    switch (rng() % 5) {
      case 0:
        in.push_back(LikeFrom(seq, 5000, sender));
        break;
      case 1:
        in.push_back(GiftFrom(seq, 5000, sender));
        break;
      case 2:
        in.push_back(Heavy(seq, sender, rng() % 20000));
        break;
      case 3:
        in.push_back(Action(seq, 5000, "mod", v1::ROLE_MODERATOR));
        break;
      default:
        in.push_back(Action(seq, 5000, sender));
        break;
    }
  }
  return in;
}

TEST(CapTest, SegmentHoldsExactlyThePrefixAdmittedRecords) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::vector<v1::Message> in = RandomBucket(seed, 400);
    // Retracted before publication: tombstones, neither kept nor capped.
    std::vector<uint64_t> retracted;
    for (size_t i = seed % 7; i < in.size(); i += 37) {
      v1::Message tomb;
      tomb.set_seq(in[i].seq());
      tomb.set_ts_ms(in[i].ts_ms());
      in[i] = tomb;
      retracted.push_back(tomb.seq());
    }
    const SegmentParams p{.room = "r",
                          .epoch = 1,
                          .bucket_ms = 1000,
                          .index = 5,
                          .limit = 60,
                          .max_bytes = 400000};
    // The publisher's pusher: one record at a time, as each becomes durable.
    OnlineCap pusher(p.limit, p.max_bytes);
    std::string streamed;
    for (const v1::Message& m : in) {
      if (m.body_case() != v1::Message::BODY_NOT_SET && pusher.Admit(m)) {
        streamed += EncodeRecord(m);
      }
    }
    const v1::ActionSegment seg = BuildSegment(p, in);
    const std::string pb = EncodeSegment(seg);
    const SegmentParts parts = SplitSegment(pb).value();  // views into pb
    std::string records;
    for (absl::string_view r : parts.records)
      records.append(r.data(), r.size());
    EXPECT_EQ(records, streamed) << seed;
    const std::map<std::string, uint64_t> dropped_in_seg(seg.dropped().begin(),
                                                         seg.dropped().end());
    EXPECT_EQ(dropped_in_seg, pusher.dropped()) << seed;
    EXPECT_FALSE(dropped_in_seg.empty()) << "the cap must bite in this bucket";
    EXPECT_EQ(
        std::vector<uint64_t>(seg.retracted().begin(), seg.retracted().end()),
        retracted);
    uint64_t dropped = 0;
    for (const auto& [type, n] : seg.dropped()) dropped += n;
    EXPECT_EQ(seg.last_seq() - seg.first_seq() + 1,
              static_cast<uint64_t>(seg.messages_size()) + dropped +
                  retracted.size());
  }
}

TEST(CapTest, SegmentWithCapIsDeterministicAndAccountsForEverySeq) {
  auto build = [] {
    std::vector<v1::Message> in;
    for (uint64_t s = 101; s <= 400; ++s)
      in.push_back(LikeFrom(s, 5000, "u" + std::to_string(s % 7)));
    return BuildSegment({.room = "big",
                         .epoch = 1,
                         .bucket_ms = 1000,
                         .index = 5,
                         .limit = BucketLimit(50, 1000)},
                        std::move(in));
  };
  v1::ActionSegment a = build();
  EXPECT_EQ(Encode(a).bytes, Encode(build()).bytes);
  EXPECT_EQ(a.first_seq(), 101u);
  EXPECT_EQ(a.last_seq(), 400u);
  // 7 senders, a share of ceil(50 / 4) = 13 each: 50 reached.
  EXPECT_EQ(a.messages_size(), 50);
  EXPECT_EQ(a.dropped().at("like"), 250u);
}

TEST(CapTest, SegmentOfAnOverweightBucketFitsTheObjectBudget) {
  std::vector<v1::Message> in;
  for (uint64_t s = 1; s <= 2500; ++s)
    in.push_back(Heavy(s, "u" + std::to_string(s % 12), 8000));
  v1::ActionSegment seg = BuildSegment(
      {.room = "r", .epoch = 1, .bucket_ms = 10000, .index = 1}, in);
  EXPECT_LE(static_cast<int64_t>(seg.ByteSizeLong()), kMaxObjectBytes + 4096);
  EXPECT_GT(seg.messages_size(), 300);
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 2500u);
}

}  // namespace
}  // namespace roomcast::segmenter
