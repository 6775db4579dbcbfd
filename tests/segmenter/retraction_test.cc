// Retraction before publication (DESIGN §11) in the pure room logic: a
// retracted open message leaves only its seq in its segment (the `retracted`
// list), keeps seq contiguous, survives a checkpoint, and rollups carry it.
#include <gtest/gtest.h>

#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/room_closer.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;

RoomCloserOptions Options(int64_t rollup_ms) {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(static_cast<uint32_t>(rollup_ms));
  config.set_action_cap_per_s(0);
  return {.identity = {.room = "lobby",
                       .epoch = 7,
                       .publisher = "pub-1",
                       .opened_ms = kT,
                       .config = config},
          .hint_secret = "room-secret"};
}

TEST(RetractionTest, BucketerTombstonesOnlyOpenMessages) {
  Bucketer b(kD);
  ASSERT_TRUE(b.Add(Action(1, kT + 10)).ok());
  ASSERT_TRUE(b.Add(Action(2, kT + kD + 10)).ok());
  ASSERT_NE(b.FindOpen(1), nullptr);
  EXPECT_EQ(b.FindOpen(3), nullptr);
  b.Close(kT + kD);  // bucket kK is published now
  EXPECT_EQ(b.FindOpen(1), nullptr);
  EXPECT_FALSE(b.Retract(1));
  ASSERT_TRUE(b.Retract(2));
  const v1::Message* t = b.FindOpen(2);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->seq(), 2u);
  EXPECT_EQ(t->ts_ms(), kT + kD + 10);
  EXPECT_EQ(t->body_case(), v1::Message::BODY_NOT_SET);
  EXPECT_TRUE(t->sender().empty());
}

TEST(RetractionTest, SegmentListsTombstonesAsRetractedAndKeepsTheSeqRange) {
  std::vector<v1::Message> msgs = {Action(5, kT + 1), Action(6, kT + 2),
                                   Action(7, kT + 3)};
  msgs[0].Clear();
  msgs[0].set_seq(5);
  msgs[0].set_ts_ms(kT + 1);
  v1::ActionSegment s = BuildSegment(
      {.room = "lobby", .epoch = 7, .bucket_ms = kD, .index = kK, .limit = 1},
      std::move(msgs));
  EXPECT_EQ(s.first_seq(), 5u);
  EXPECT_EQ(s.last_seq(), 7u);
  ASSERT_EQ(s.retracted_size(), 1);
  EXPECT_EQ(s.retracted(0), 5u);
  // The cap (1 a bucket) counts only what is left: one kept, one dropped.
  uint64_t dropped = 0;
  for (const auto& [type, n] : s.dropped()) dropped += n;
  EXPECT_EQ(s.messages_size() + dropped + s.retracted_size(), 3u);
  for (const v1::Message& m : s.messages()) EXPECT_NE(m.seq(), 5u);
}

TEST(RetractionTest,
     RoomCloserRetractionSurvivesACheckpointAndReachesTheRollup) {
  RoomCloser a(Options(4 * kD));
  ASSERT_TRUE(a.AddAction(Action(1, kT + 10)).ok());
  ASSERT_TRUE(a.AddAction(Action(2, kT + 20)).ok());
  ASSERT_TRUE(a.RetractOpen(1));
  RoomCloser b(Options(4 * kD));
  ASSERT_TRUE(b.Restore(a.Checkpoint()).ok());
  for (RoomCloser* c : {&a, &b}) {
    std::vector<ClosedObject> out;
    c->Close(kT + 4 * kD, &out);  // the bucket and its rollup window
    ASSERT_EQ(out.size(), 2u);
    v1::ActionSegment seg, rollup;
    ASSERT_TRUE(seg.ParseFromString(out[0].bytes));
    ASSERT_TRUE(rollup.ParseFromString(out[1].bytes));
    EXPECT_EQ(seg.first_seq(), 1u);
    ASSERT_EQ(seg.retracted_size(), 1);
    EXPECT_EQ(seg.retracted(0), 1u);
    ASSERT_EQ(seg.messages_size(), 1);
    EXPECT_EQ(seg.messages(0).seq(), 2u);
    EXPECT_EQ(rollup.bucket_ms(), 4 * kD);
    ASSERT_EQ(rollup.retracted_size(), 1);
    EXPECT_EQ(rollup.retracted(0), 1u);
    EXPECT_EQ(rollup.messages_size(), 1);
    // Both renditions render (the origin checks the .json on PUT).
    EXPECT_TRUE(RenderJson(ObjectClass::kActions, out[0].bytes).ok());
  }
}

TEST(RetractionTest, ModerationRecordsAreHighPriorityWithTypeNames) {
  v1::Message r = Action(3, kT, "mod", v1::ROLE_AUDIENCE);
  r.mutable_retract()->add_seqs(1);
  EXPECT_EQ(TypeName(r), "retract");
  EXPECT_EQ(DefaultPriority(v1::ROLE_AUDIENCE, r), v1::PRIORITY_HIGH);
  v1::Message ban = Action(4, kT);
  ban.mutable_ban()->set_user("spammer");
  EXPECT_EQ(TypeName(ban), "ban");
  EXPECT_EQ(DefaultPriority(v1::ROLE_AUDIENCE, ban), v1::PRIORITY_HIGH);
}

}  // namespace
}  // namespace roomcast::segmenter
