// A room's moderation records (DESIGN §11) applied as the log replays them:
// the review delay holds buckets back (and their gates with them), a
// retraction logged as unpublished tombstones its target, and a checkpoint
// brings settings, bans, redactions and recent senders back.
#include <string>

#include "gtest/gtest.h"
#include "publisher/internal/room.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/naming.h"

namespace roomcast::publisher::internal {
namespace {

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;

Room MakeRoom() {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(kD);
  config.set_action_cap_per_s(500);
  config.set_retention_s(3600);
  return Room({.room = "lobby",
               .publisher = "pub-1",
               .config = config,
               .epoch = 1,
               .opened_ms = kT,
               .hint_secret = "secret"},
              60000);
}

log::Record Comment(Room& room, int64_t ts, const std::string& sender) {
  log::Record r;
  r.set_room("lobby");
  v1::Message* m = r.mutable_action()->mutable_message();
  m->set_kind(v1::KIND_ACTION);
  m->set_sender(sender);
  m->mutable_comment()->set_text("text of " + sender);
  m->set_seq(room.NextSeq());
  m->set_ts_ms(room.Stamp(ts, 0));
  return r;
}

log::Record Settings(uint32_t slow_s, uint32_t delay_ms, int64_t ts) {
  log::Record r;
  r.set_room("lobby");
  r.mutable_settings()->mutable_settings()->set_slow_mode_s(slow_s);
  r.mutable_settings()->mutable_settings()->set_review_delay_ms(delay_ms);
  r.mutable_settings()->set_ts_ms(ts);
  return r;
}

TEST(RoomModerationTest, ReviewDelayHoldsBucketsAndTheirGatesBack) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Settings(0, 2000, kT)).ok());
  ASSERT_TRUE(room.Apply(Comment(room, kT + 10, "alice")).ok());
  for (const Upload& u : room.Close(kT + kD, kT + kD)) {
    EXPECT_NE(u.path, segmenter::SegmentPath("lobby", kD, kK))
        << "published inside the delay";
  }
  std::vector<Upload> ups = room.Close(kT + kD + 2000, kT + kD + 2000);
  ASSERT_FALSE(ups.empty());
  EXPECT_EQ(ups[0].path, segmenter::SegmentPath("lobby", kD, kK));
  EXPECT_EQ(ups[0].gate_ms, kT + kD - 1 + 2000);
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(ups.back().bytes));
  EXPECT_EQ(m.review_delay_ms(), 2000u);
  EXPECT_EQ(m.watermark_ms(), kT + kD);  // the room's own
}

TEST(RoomModerationTest, UnpublishedRetractionTombstonesItsTarget) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Comment(room, kT + 10, "alice")).ok());
  ASSERT_TRUE(room.Apply(Comment(room, kT + 20, "bob")).ok());
  ASSERT_NE(room.FindOpen(1), nullptr);
  log::Record r;
  r.set_room("lobby");
  r.mutable_retraction()->add_unpublished(1);
  r.mutable_retraction()->set_ts_ms(room.Stamp(kT + 30, 0));
  ASSERT_TRUE(room.Apply(r).ok());
  EXPECT_TRUE(room.moderation().Retracted(1));
  std::vector<Upload> ups = room.Close(kT + kD, kT + kD);
  ASSERT_FALSE(ups.empty());
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(ups[0].bytes));
  EXPECT_EQ(seg.first_seq(), 1u);
  ASSERT_EQ(seg.retracted_size(), 1);
  EXPECT_EQ(seg.retracted(0), 1u);
  ASSERT_EQ(seg.messages_size(), 2);  // bob's, then the redactions notice
  EXPECT_EQ(seg.messages(0).sender(), "bob");
  EXPECT_EQ(seg.messages(1).notice().state().name(), "redactions");
  EXPECT_EQ(ups[0].bytes.find("text of alice"), std::string::npos);
}

TEST(RoomModerationTest, CheckpointRestoresSettingsBansRedactionsAndSenders) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Settings(30, 1000, kT)).ok());
  ASSERT_TRUE(room.Apply(Comment(room, kT + 10, "alice")).ok());
  log::Record ban;
  ban.set_room("lobby");
  ban.mutable_ban()->set_user("troll");
  ban.mutable_ban()->set_until_ms(kT + 600000);
  ban.mutable_ban()->set_silent(true);
  ban.mutable_ban()->set_ts_ms(room.Stamp(kT + 20, 0));
  ASSERT_TRUE(room.Apply(ban).ok());
  log::Record r;
  r.set_room("lobby");
  r.mutable_retraction()->add_unpublished(1);
  r.mutable_retraction()->set_ts_ms(room.Stamp(kT + 30, 0));
  ASSERT_TRUE(room.Apply(r).ok());

  Room back = MakeRoom();
  ASSERT_TRUE(back.Restore(room.Checkpoint(9)).ok());
  RoomModeration& m = back.moderation();
  EXPECT_EQ(m.settings().slow_mode_s(), 30u);
  EXPECT_EQ(m.settings().review_delay_ms(), 1000u);
  EXPECT_EQ(m.max_review_delay_ms(), 1000u);
  EXPECT_EQ(m.BannedUntil("troll", kT + 1000), kT + 600000);
  EXPECT_TRUE(m.SilentBan("troll"));
  EXPECT_FALSE(m.BannedUntil("troll", kT + 600000).has_value());
  EXPECT_TRUE(m.Retracted(1));
  ASSERT_NE(m.SenderOf(1), nullptr);
  EXPECT_EQ(*m.SenderOf(1), "alice");
  EXPECT_EQ(back.Checkpoint(9).moderation().DebugString(),
            room.Checkpoint(9).moderation().DebugString());
}

log::Record TakedownRecord(uint64_t id, uint64_t seq, int64_t at_ms) {
  log::Record r;
  r.set_room("lobby");
  r.mutable_takedown()->set_id(id);
  r.mutable_takedown()->add_seqs(seq);
  r.mutable_takedown()->set_reason("court order");
  r.mutable_takedown()->set_at_ms(at_ms);
  return r;
}

log::Record TakedownDone(uint64_t id, const std::string& path, int64_t ts, bool finished) {
  log::Record r;
  r.set_room("lobby");
  log::TakedownDone* d = r.mutable_takedown_done();
  d->set_id(id);
  d->mutable_entry()->set_path(path);
  d->mutable_entry()->set_old_digest(std::string(64, 'a'));
  d->mutable_entry()->set_new_digest(std::string(64, 'b'));
  d->mutable_entry()->add_seqs(1);
  d->set_finished(finished);
  d->set_ts_ms(ts);
  return r;
}

TEST(RoomModerationTest, TakedownsReplayAndSurviveACheckpoint) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Comment(room, kT + 10, "alice")).ok());
  ASSERT_TRUE(room.Apply(Comment(room, kT + kD + 10, "bob")).ok());
  (void)room.Close(kT + 2 * kD, kT + 2 * kD);
  const std::string path = segmenter::SegmentPath("lobby", kD, kK);
  ASSERT_TRUE(room.Apply(TakedownRecord(1, 1, kT + 2 * kD)).ok());
  ASSERT_TRUE(room.Apply(TakedownRecord(2, 2, kT + 2 * kD + 1)).ok());
  log::Record plan;
  plan.set_room("lobby");
  plan.mutable_takedown_plan()->set_id(1);
  plan.mutable_takedown_plan()->set_path(path);
  ASSERT_TRUE(room.Apply(plan).ok());
  ASSERT_TRUE(room.Apply(TakedownDone(1, path, kT + 2 * kD + 2, true)).ok());
  // An id that is not the next one is a record this room could not have made.
  EXPECT_FALSE(room.Apply(TakedownRecord(2, 2, kT + 2 * kD + 3)).ok());

  const RoomTakedowns& t = room.moderation().takedowns();
  EXPECT_EQ(t.last_id(), 2u);
  ASSERT_EQ(t.jobs().size(), 1u);  // 1 finished, 2 running
  EXPECT_EQ(t.jobs().begin()->first, 2u);
  EXPECT_TRUE(t.HasRecord(path, std::string(64, 'b')));
  ASSERT_TRUE(t.Covering({1}).has_value());
  EXPECT_TRUE(t.Covering({1})->finished);
  EXPECT_FALSE(t.Covering({1, 2})->finished);
  EXPECT_FALSE(t.Covering({3}).has_value());

  Room back = MakeRoom();
  ASSERT_TRUE(back.Restore(room.Checkpoint(9)).ok());
  EXPECT_EQ(back.Checkpoint(9).moderation().DebugString(),
            room.Checkpoint(9).moderation().DebugString());
  EXPECT_EQ(back.Checkpoint(9).closer().taken_down_size(), 2);
  EXPECT_EQ(back.moderation().takedowns().Value().DebugString(), t.Value().DebugString());
}

TEST(RoomModerationTest, SlowModeClocksEachAudienceUser) {
  RoomModeration m;
  log::RoomSettings s;
  s.set_slow_mode_s(10);
  m.SetSettings(s);
  EXPECT_EQ(m.SlowModeWaitMs("alice", kT), 0);
  m.Posted("alice", kT);
  EXPECT_EQ(m.SlowModeWaitMs("alice", kT + 4000), 6000);
  EXPECT_EQ(m.SlowModeWaitMs("bob", kT + 4000), 0);
  EXPECT_EQ(m.SlowModeWaitMs("alice", kT + 10000), 0);
}

}  // namespace
}  // namespace roomcast::publisher::internal
