#include "publisher/internal/room.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/naming.h"

namespace roomcast::publisher::internal {
namespace {

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;
constexpr uint64_t kEpoch = 1764289999123;

Room MakeRoom(int64_t rollup_ms = kD, int64_t window_ms = 60000) {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(static_cast<uint32_t>(rollup_ms));
  config.set_action_cap_per_s(500);
  return Room({.room = "lobby",
               .publisher = "pub-1",
               .config = config,
               .epoch = kEpoch,
               .opened_ms = kT,
               .hint_secret = "secret"},
              window_ms);
}

// The record of an action `room` sequenced and stamped at `now_ms`.
log::Record Sequenced(Room& room, int64_t now_ms, std::string id = "") {
  log::Record r;
  r.set_room("lobby");
  v1::Message* m = r.mutable_action()->mutable_message();
  m->set_kind(v1::KIND_ACTION);
  m->set_sender("viewer");
  m->mutable_comment()->set_text("hi");
  m->set_seq(room.NextSeq());
  m->set_ts_ms(room.Stamp(now_ms, /*floor_ms=*/0));
  r.mutable_action()->set_client_msg_id(std::move(id));
  return r;
}

log::Record StateRecord(const std::string& component, int64_t ts_ms) {
  log::Record r;
  r.set_room("lobby");
  r.mutable_state()->set_component(component);
  r.mutable_state()->mutable_value()->set_bool_value(true);
  r.mutable_state()->set_ts_ms(ts_ms);
  return r;
}

log::Record Ended() {
  log::Record r;
  r.set_room("lobby");
  r.mutable_ended()->set_ts_ms(kT);
  return r;
}

TEST(RoomTest, StampsAreMonotonicAndNeverBeforeTheFloor) {
  Room room = MakeRoom();
  EXPECT_EQ(room.Stamp(kT + 500, kT), kT + 500);
  EXPECT_EQ(room.Stamp(kT + 100, kT), kT + 500);  // the clock went back
  EXPECT_EQ(room.Stamp(kT + 600, kT + 2000), kT + 2000);
}

TEST(RoomTest, ClosedBucketGoesOutBeforeTheManifest) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Sequenced(room, kT + 10)).ok());
  ASSERT_TRUE(room.Apply(Sequenced(room, kT + 20)).ok());
  EXPECT_TRUE(room.Unpublished());
  std::vector<Upload> ups = room.Close(kT + kD, kT + kD);
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].path, segmenter::SegmentPath("lobby", kD, kK));
  EXPECT_EQ(ups[0].gate_ms, kT + kD - 1);
  EXPECT_EQ(ups[0].manifest_version, 0u);
  EXPECT_EQ(ups[1].path, segmenter::ManifestPath("lobby"));
  EXPECT_EQ(ups[1].gate_ms, kNoGate);
  EXPECT_EQ(ups[1].manifest_version, room.manifest_version());
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(ups[1].bytes));
  EXPECT_EQ(m.last_seq(), 2u);
  EXPECT_EQ(m.version(), room.manifest_version());
  EXPECT_FALSE(room.Unpublished());
  // Nothing changed: no manifest again.
  EXPECT_TRUE(room.Close(kT + 2 * kD, kT + 2 * kD).empty());
}

TEST(RoomTest, ReplyIsRememberedUnderItsSenderAndKind) {
  Room room = MakeRoom();
  log::Record r = Sequenced(room, kT + 10, "c-1");
  const v1::PostResult reply = room.ReplyFor(r.action().message());
  EXPECT_EQ(reply.seq(), 1u);
  EXPECT_EQ(reply.bucket(), kK);
  EXPECT_EQ(reply.bucket_ms(), kD);
  ASSERT_TRUE(room.Apply(r).ok());
  const v1::PostResult* found =
      room.replies().Find(ReplyKind::kAction, "viewer", "c-1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->SerializeAsString(), reply.SerializeAsString());
  EXPECT_EQ(room.replies().Find(ReplyKind::kPeer, "viewer", "c-1"), nullptr);
  EXPECT_EQ(room.replies().Find(ReplyKind::kAction, "other", "c-1"), nullptr);
}

TEST(RoomTest, ReplayingTheLogRestoresSeqStampAndReplies) {
  Room first = MakeRoom();
  std::vector<log::Record> logged = {Sequenced(first, kT + 10, "c-1"),
                                     Sequenced(first, kT + 900)};
  Room replayed = MakeRoom();
  for (const log::Record& r : logged) ASSERT_TRUE(replayed.Apply(r).ok());
  EXPECT_EQ(replayed.NextSeq(), 3u);
  EXPECT_EQ(replayed.Stamp(kT, 0), kT + 900);
  EXPECT_NE(replayed.replies().Find(ReplyKind::kAction, "viewer", "c-1"),
            nullptr);
}

TEST(RoomTest, RepliesAreForgottenAfterTheWindow) {
  Room room = MakeRoom(kD, /*window_ms=*/1000);
  ASSERT_TRUE(room.Apply(Sequenced(room, kT, "old")).ok());
  ASSERT_TRUE(room.Apply(Sequenced(room, kT + 1000)).ok());
  EXPECT_NE(room.replies().Find(ReplyKind::kAction, "viewer", "old"), nullptr);
  ASSERT_TRUE(room.Apply(Sequenced(room, kT + 1001, "new")).ok());
  EXPECT_EQ(room.replies().Find(ReplyKind::kAction, "viewer", "old"), nullptr);
  EXPECT_NE(room.replies().Find(ReplyKind::kAction, "viewer", "new"), nullptr);
}

TEST(RoomTest, StateSetReportsItsComponentAndIsPublishedWithTheSnapshot) {
  Room room = MakeRoom();
  v1::StateComponent c;
  ASSERT_TRUE(room.Apply(StateRecord("title", kT + 5), &c).ok());
  EXPECT_EQ(c.name(), "title");
  EXPECT_EQ(c.version(), kEpoch + 1);  // versions continue from the epoch
  std::vector<Upload> ups = room.Close(kT, kT);
  ASSERT_EQ(ups.size(), 3u);
  EXPECT_EQ(ups[0].path, segmenter::StatePath("lobby", "title", kEpoch + 1));
  EXPECT_EQ(ups[0].gate_ms, kT + 5);
  EXPECT_EQ(ups[1].path, segmenter::SnapshotPath("lobby", kEpoch + 1));
  EXPECT_EQ(ups[2].path, segmenter::ManifestPath("lobby"));
}

TEST(RoomTest, OneComponentTooManyIsRefused) {
  Room room = MakeRoom();
  google::protobuf::Value small;
  small.set_string_value("v");
  for (size_t i = 0; i < segmenter::kMaxComponents; ++i) {
    ASSERT_TRUE(room.CanSetState(absl::StrCat("c", i), small).ok());
    ASSERT_TRUE(room.Apply(StateRecord(absl::StrCat("c", i), kT)).ok());
  }
  EXPECT_TRUE(room.CanSetState("c0", small).ok());  // an existing one may change
  EXPECT_EQ(room.CanSetState("one-more", small).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(RoomTest, AStateSetThatWouldOutgrowTheSnapshotBudgetIsRefused) {
  Room room = MakeRoom();
  google::protobuf::Value big;
  big.set_string_value(std::string(60 << 10, 'x'));
  int accepted = 0;
  for (int i = 0; i < 100 && room.CanSetState(absl::StrCat("c", i), big).ok(); ++i) {
    log::Record r = StateRecord(absl::StrCat("c", i), kT);
    *r.mutable_state()->mutable_value() = big;
    ASSERT_TRUE(room.Apply(r).ok());
    ++accepted;
  }
  // 2 MiB of snapshot holds about 34 values of 60 KiB, not 100.
  EXPECT_GT(accepted, 20);
  EXPECT_LT(accepted, 40);
  EXPECT_EQ(room.CanSetState("one-more", big).code(), absl::StatusCode::kOutOfRange);
  // Shrinking a component is always allowed.
  google::protobuf::Value small;
  small.set_string_value("v");
  EXPECT_TRUE(room.CanSetState("c0", small).ok());
}

TEST(RoomTest, EndingRoomStopsAcceptingAndPublishesAnEndedManifest) {
  Room room = MakeRoom();
  EXPECT_TRUE(room.accepting());
  room.MarkEnding();
  EXPECT_FALSE(room.accepting());
  EXPECT_FALSE(room.ended());  // not until the end record is durable
  ASSERT_TRUE(room.Apply(Ended()).ok());
  EXPECT_TRUE(room.ended());
  std::vector<Upload> ups = room.Close(kT, kT);
  ASSERT_EQ(ups.size(), 1u);
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(ups[0].bytes));
  EXPECT_EQ(m.status(), v1::ROOM_STATUS_ENDED);
}

TEST(RoomTest, RecoveryUploadsNothingTheOriginAcknowledged) {
  Room first = MakeRoom();
  std::vector<log::Record> logged = {Sequenced(first, kT + 10),
                                     Sequenced(first, kT + kD + 10)};
  Room room = MakeRoom();
  for (const log::Record& r : logged) ASSERT_TRUE(room.Apply(r).ok());
  room.Recover(kT + kD);
  std::vector<Upload> ups = room.Close(kT + 2 * kD, kT + 2 * kD);
  ASSERT_FALSE(ups.empty());
  EXPECT_EQ(ups[0].path, segmenter::SegmentPath("lobby", kD, kK + 1));
  for (const Upload& u : ups) {
    EXPECT_NE(u.path, segmenter::SegmentPath("lobby", kD, kK)) << "re-uploaded";
  }
}

TEST(RoomTest, ManifestAfterRestartIsNewerThanAnyTheOriginMayHold) {
  Room room = MakeRoom();
  log::RoomProgress p;
  p.set_manifest_intent(40);  // uploaded, maybe: not acknowledged
  p.set_manifest_done(39);
  room.RestoreManifestProgress(p);
  EXPECT_EQ(room.manifest_version(), 41u);
  EXPECT_TRUE(room.Unpublished());
  std::vector<Upload> ups = room.Close(kT, kT);
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].manifest_version, 41u);
}

TEST(RoomTest, FillingRollupKeepsTheRoomActiveButNotUnpublished) {
  Room room = MakeRoom(/*rollup_ms=*/60 * kD);
  const int64_t r0 = kT - kT % (60 * kD);
  ASSERT_TRUE(room.Apply(Sequenced(room, r0 + 10)).ok());
  room.Close(r0 + kD, r0 + kD);
  EXPECT_FALSE(room.Unpublished());
  EXPECT_TRUE(room.Active());
  room.Close(r0 + 60 * kD, r0 + 60 * kD);
  EXPECT_FALSE(room.Active());
}

TEST(RoomTest, FailedWriteGivesBackItsSeqAndReply) {
  Room room = MakeRoom();
  ASSERT_TRUE(room.Apply(Sequenced(room, kT + 10, "c-1")).ok());
  // Sequenced as ingest does before the write: the reply is remembered
  // for duplicates in the same batch...
  log::Record failed = Sequenced(room, kT + 20, "c-2");
  room.replies().Remember(ReplyKind::kAction, "viewer", "c-2",
                          room.ReplyFor(failed.action().message()), kT + 20);
  // ...and the write fails: no retry may get that reply, nor a gap appear.
  room.RollBack(failed);
  EXPECT_EQ(room.replies().Find(ReplyKind::kAction, "viewer", "c-2"), nullptr);
  EXPECT_NE(room.replies().Find(ReplyKind::kAction, "viewer", "c-1"), nullptr);
  EXPECT_EQ(room.NextSeq(), 2u);
}

TEST(RoomTest, RecordThatDoesNotApplyChangesNothing) {
  Room room = MakeRoom();
  log::Record first = Sequenced(room, kT + 10, "c-1");
  ASSERT_TRUE(room.Apply(first).ok());
  log::Record again = first;  // seq 1 twice
  again.mutable_action()->set_client_msg_id("c-again");
  EXPECT_FALSE(room.Apply(again).ok());
  EXPECT_EQ(room.replies().Find(ReplyKind::kAction, "viewer", "c-again"),
            nullptr);
  EXPECT_EQ(room.unsaved_replies().size(), 1u);
}

// A room restored from a checkpoint and a room that never stopped make the
// same objects and the same checkpoint from the same later records.
TEST(RoomTest, RestoredRoomGoesOnAsTheLiveOne) {
  Room live = MakeRoom(/*rollup_ms=*/10 * kD, /*window_ms=*/60000);
  ASSERT_TRUE(live.Apply(Sequenced(live, kT + 10, "c-1")).ok());
  ASSERT_TRUE(live.Apply(StateRecord("title", kT + 20)).ok());
  live.Close(kT + kD, kT + kD);
  ASSERT_TRUE(live.Apply(Sequenced(live, kT + kD + 5, "c-2")).ok());
  const log::RoomCheckpoint c = live.Checkpoint(/*lsn=*/5);
  Room restored = MakeRoom(10 * kD, 60000);
  ASSERT_TRUE(restored.Restore(c).ok());
  std::vector<log::Reply> replies = live.unsaved_replies();
  restored.RestoreReplies(replies);
  EXPECT_EQ(restored.Checkpoint(5).SerializeAsString(), c.SerializeAsString());
  EXPECT_NE(restored.replies().Find(ReplyKind::kAction, "viewer", "c-1"),
            nullptr);
  for (Room* r : {&live, &restored}) {
    log::Record next = Sequenced(*r, kT + 2 * kD + 1);
    ASSERT_TRUE(r->Apply(next).ok());
    EXPECT_EQ(next.action().message().seq(), 3u);
    ASSERT_TRUE(r->Apply(Ended()).ok());
  }
  std::vector<Upload> a = live.Close(kT + 10 * kD, kT + 10 * kD);
  std::vector<Upload> b = restored.Close(kT + 10 * kD, kT + 10 * kD);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path, b[i].path);
    if (a[i].manifest_version == 0) {
      EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].path;
    }
  }
  EXPECT_EQ(live.Checkpoint(9).SerializeAsString(),
            restored.Checkpoint(9).SerializeAsString());
}

TEST(RoomTest, CheckpointOfAnotherRoomIsRefused) {
  Room live = MakeRoom();
  ASSERT_TRUE(live.Apply(Sequenced(live, kT + 10)).ok());
  log::RoomCheckpoint c = live.Checkpoint(2);
  c.mutable_closer()
      ->mutable_bucketer()
      ->mutable_open(0)
      ->mutable_messages(0)
      ->set_seq(9);
  Room other = MakeRoom();
  EXPECT_FALSE(other.Restore(c).ok());  // seq 9 past the room's seq 1
}

}  // namespace
}  // namespace roomcast::publisher::internal
