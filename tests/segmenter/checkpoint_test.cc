// Checkpoint/Restore of the segmenter's stateful parts (checkpoint.proto):
// a restored part makes the same objects, byte for byte, from the same later
// calls as the part it was checkpointed from, and a checkpoint that no part
// could have made is refused without changing anything.
#include <gtest/gtest.h>

#include "google/protobuf/struct.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/manifest.h"
#include "segmenter/room_closer.h"
#include "segmenter/segment.h"
#include "segmenter/state.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;

RoomCloserOptions Options() {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(10 * kD);
  config.set_action_cap_per_s(2);  // the cap samples: drop counts too
  return {.identity = {.room = "lobby",
                       .epoch = 7,
                       .publisher = "pub-1",
                       .opened_ms = kT,
                       .config = config},
          .hint_secret = "secret",
          .state_version_base = 100};
}

google::protobuf::Value Text(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}

v1::Message PeerTo(const std::string& user, uint64_t seq, int64_t ts_ms) {
  v1::Message m = Action(seq, ts_ms, "moderator", v1::ROLE_MODERATOR);
  m.set_kind(v1::KIND_PEER);
  m.set_recipient(user);
  return m;
}

// Something of every kind a closer holds: closed buckets in a rollup window
// in progress, open buckets, unclosed peer batches, published and pending
// state, a manifest with segments and components.
void Fill(RoomCloser& room) {
  uint64_t seq = 0;
  for (int64_t i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      ASSERT_TRUE(room.AddAction(Action(++seq, kT + i * kD + j * 10)).ok());
    }
  }
  room.AddPeer(PeerTo("u1", 1, kT + 10));
  ASSERT_TRUE(room.SetState("title", Text("a"), kT + 20, "anchor").ok());
  std::vector<ClosedObject> out;
  room.Close(kT + 2 * kD, &out);  // buckets k, k+1 into the rollup window
  ASSERT_TRUE(
      room.SetState("title", Text("b"), kT + 2 * kD + 5, "anchor").ok());
  ASSERT_TRUE(room.SetState("pinned", Text("p"), kT + 2 * kD + 6, "mod").ok());
  room.AddPeer(PeerTo("u2", 2, kT + 2 * kD + 7));
}

// Everything both make from the same later calls, in order.
std::vector<std::string> Continue(RoomCloser& room) {
  std::vector<std::string> bytes;
  std::vector<ClosedObject> out;
  EXPECT_TRUE(room.AddAction(Action(13, kT + 2 * kD + 500)).ok());
  room.Close(kT + 4 * kD, &out);
  EXPECT_TRUE(room.SetState("title", Text("c"), kT + 4 * kD, "anchor").ok());
  room.End();
  room.Close(kT + 11 * kD, &out);  // completes the rollup window
  for (const ClosedObject& o : out) bytes.push_back(o.path + "\n" + o.bytes);
  bytes.push_back(SerializeDeterministic(room.manifest().Build(1, 2)));
  return bytes;
}

TEST(CheckpointTest, RestoredCloserMakesTheSameBytes) {
  RoomCloser original(Options());
  Fill(original);
  const RoomCloserCheckpoint c = original.Checkpoint();
  // Through its bytes, as the publisher stores it.
  RoomCloserCheckpoint parsed;
  ASSERT_TRUE(parsed.ParseFromString(SerializeDeterministic(c)));
  RoomCloser restored(Options());
  ASSERT_TRUE(restored.Restore(parsed).ok());
  EXPECT_EQ(SerializeDeterministic(restored.Checkpoint()),
            SerializeDeterministic(c));
  EXPECT_EQ(restored.HasUnclosed(), original.HasUnclosed());
  EXPECT_EQ(restored.rollup_pending(), original.rollup_pending());
  EXPECT_EQ(restored.manifest().version(), original.manifest().version());
  const std::vector<std::string> a = Continue(original);
  const std::vector<std::string> b = Continue(restored);
  EXPECT_GT(a.size(),
            6u);  // segments, peers, state, snapshot, rollup, manifest
  EXPECT_EQ(a, b);
}

TEST(CheckpointTest, CheckpointIsDeterministic) {
  RoomCloser one(Options()), two(Options());
  Fill(one);
  Fill(two);
  EXPECT_EQ(SerializeDeterministic(one.Checkpoint()),
            SerializeDeterministic(two.Checkpoint()));
}

TEST(CheckpointTest, EmptyCloserRoundTrips) {
  RoomCloser original(Options());
  RoomCloser restored(Options());
  ASSERT_TRUE(restored.Restore(original.Checkpoint()).ok());
  EXPECT_EQ(Continue(original), Continue(restored));
}

// A checkpoint written before rollup parts existed holds the window's
// buckets as segments: it restores to the same closer.
TEST(CheckpointTest, AnOlderCheckpointWithRollupSegmentsRestores) {
  RoomCloser original(Options());
  Fill(original);
  RoomCloserCheckpoint old = original.Checkpoint();
  ASSERT_GT(old.rollup_parts_size(), 0);
  for (const RollupPart& part : old.rollup_parts()) {
    ASSERT_TRUE(old.add_rollup()->ParseFromString(part.segment()));
  }
  old.clear_rollup_parts();
  RoomCloser restored(Options());
  ASSERT_TRUE(restored.Restore(old).ok());
  EXPECT_EQ(SerializeDeterministic(restored.Checkpoint()),
            SerializeDeterministic(original.Checkpoint()));
  EXPECT_EQ(Continue(original), Continue(restored));
}

// A busy window: the closer keeps its buckets only up to the first over the
// rollup's budget (what a checkpoint and a restart carry stays bounded), and
// the rollup is the one BuildRollup makes of every bucket of the window.
TEST(CheckpointTest, ARollupWindowOverItsBudgetKeepsOnlyWhatTheRollupHolds) {
  RoomCloserOptions options = Options();
  options.identity.config.set_action_cap_per_s(0);  // no sampling
  RoomCloser room(options);
  const std::string text(400, 'x');
  constexpr int kBuckets = 9, kPerBucket = 2500;  // ~1 MiB a bucket
  uint64_t seq = 0;
  std::vector<ClosedObject> out;
  std::vector<v1::ActionSegment> segments;
  for (int64_t i = 0; i < kBuckets; ++i) {
    for (int j = 0; j < kPerBucket; ++j) {
      v1::Message m = Action(++seq, kT + i * kD + j / 10);
      m.mutable_comment()->set_text(text);
      ASSERT_TRUE(room.AddAction(std::move(m)).ok());
    }
    room.Close(kT + (i + 1) * kD, &out);
    ASSERT_FALSE(out.empty());
    ASSERT_TRUE(segments.emplace_back().ParseFromString(out.back().bytes));
    out.clear();
  }
  const RoomCloserCheckpoint c = room.Checkpoint();
  int64_t weight = 0;
  int kept = 0;
  while (kept < kBuckets && (kept == 0 || weight + RollupWeight(segments[kept]) <= kMaxObjectBytes)) {
    weight += RollupWeight(segments[kept++]);
  }
  ASSERT_LT(kept, kBuckets) << "the window should go over the budget";
  EXPECT_EQ(c.rollup_parts_size(), kept + 1);  // and the first over it
  EXPECT_LT(c.ByteSizeLong(), static_cast<size_t>(2 * kMaxObjectBytes + (1 << 20)));
  // Through a restore, as after a restart.
  RoomCloser restored(options);
  ASSERT_TRUE(restored.Restore(c).ok());
  restored.Close(kT + 10 * kD, &out);
  ASSERT_EQ(out.size(), 1u);  // the rollup (bucket 9 is empty)
  absl::StatusOr<v1::ActionSegment> all = BuildRollup(10 * kD, kK / 10, segments);
  ASSERT_TRUE(all.ok()) << all.status();
  all->clear_peer_hint();
  EXPECT_EQ(all->last_bucket(), kK + kept - 1);
  EXPECT_EQ(out[0].bytes, SerializeDeterministic(*all));
}

// The window's first bucket weighs nothing (its one action was retracted
// before publication), the next ones go over the budget: the closer cuts
// where BuildRollup does, and its checkpoint restores however many buckets
// follow (none are kept past the cut).
TEST(CheckpointTest, ARollupWhoseFirstBucketWasRetractedCutsWhereBuildRollupDoes) {
  RoomCloserOptions options = Options();
  options.identity.config.set_action_cap_per_s(0);
  RoomCloser room(options);
  std::vector<ClosedObject> out;
  ASSERT_TRUE(room.AddAction(Action(1, kT + 1)).ok());
  ASSERT_TRUE(room.RetractOpen(1));
  room.Close(kT + kD, &out);
  const std::string text(400, 'x');
  uint64_t seq = 1;
  for (int64_t i = 1; i < 9; ++i) {
    for (int j = 0; j < 6000; ++j) {  // ~2.5 MiB a bucket
      v1::Message m = Action(++seq, kT + i * kD + j / 10);
      m.mutable_comment()->set_text(text);
      ASSERT_TRUE(room.AddAction(std::move(m)).ok());
    }
    room.Close(kT + (i + 1) * kD, &out);
    RoomCloser restored(options);
    ASSERT_TRUE(restored.Restore(room.Checkpoint()).ok()) << "after bucket " << i;
    EXPECT_LE(room.Checkpoint().rollup_parts_size(), 3) << "kept past the cut";
  }
}

// Each corruption, applied to a good checkpoint, must be refused, and the
// closer must keep what it had.
TEST(CheckpointTest, ImpossibleCheckpointsAreRefusedAndChangeNothing) {
  RoomCloser source(Options());
  Fill(source);
  const RoomCloserCheckpoint good = source.Checkpoint();
  std::vector<std::function<void(RoomCloserCheckpoint&)>> corruptions = {
      [](auto& c) {
        c.mutable_bucketer()->mutable_open(0)->mutable_messages(0)->set_ts_ms(
            kT);
      },
      [](auto& c) {
        c.mutable_bucketer()->mutable_open(0)->mutable_messages(0)->set_seq(1);
      },
      [](auto& c) { c.mutable_bucketer()->set_last_seq(1); },
      [](auto& c) { c.mutable_bucketer()->set_watermark_ms(kT + 9 * kD); },
      [](auto& c) { c.mutable_bucketer()->mutable_open(0)->clear_messages(); },
      [](auto& c) { c.mutable_peers(0)->set_user("../x"); },
      [](auto& c) { c.mutable_peers(0)->set_room("other"); },
      [](auto& c) { c.mutable_peers(0)->set_index(kK); },  // already closed
      [](auto& c) { c.mutable_state()->set_total_version(50); },
      [](auto& c) { c.mutable_state()->mutable_history(0)->set_version(1); },
      [](auto& c) {
        c.mutable_state()->mutable_history(0)->set_name("bad name");
      },
      [](auto& c) { *c.mutable_state()->add_history() = c.state().history(0); },
      [](auto& c) { c.mutable_pending_state(0)->set_version(999); },
      [](auto& c) { c.mutable_manifest()->set_version(0); },
      [](auto& c) {
        c.mutable_manifest()->mutable_components(0)->set_name("");
      },
      [](auto& c) { c.mutable_rollup_parts(0)->set_index(kK + 50); },
      [](auto& c) { c.mutable_rollup_parts(0)->set_index(kK + 5); },  // not closed
      [](auto& c) { c.mutable_rollup_parts(0)->set_index(int64_t{1} << 62); },
      [](auto& c) { c.mutable_rollup_parts(0)->set_first_seq(0); },
      [](auto& c) { c.mutable_rollup_parts(0)->clear_segment(); },
      [](auto& c) { c.mutable_rollup_parts(0)->set_weight(-1); },
      [](auto& c) { *c.add_rollup_parts() = c.rollup_parts(0); },  // index again
      [](auto& c) { c.set_rollup_index(kK); },
  };
  RoomCloser target(Options());
  ASSERT_TRUE(target.AddAction(Action(1, kT + 5)).ok());
  const std::string before = SerializeDeterministic(target.Checkpoint());
  for (size_t i = 0; i < corruptions.size(); ++i) {
    RoomCloserCheckpoint bad = good;
    corruptions[i](bad);
    EXPECT_FALSE(target.Restore(bad).ok()) << "corruption " << i;
    EXPECT_EQ(SerializeDeterministic(target.Checkpoint()), before)
        << "corruption " << i;
  }
}

TEST(CheckpointTest, BucketerRoundTripsAndKeepsRefusingLateMessages) {
  Bucketer b(kD);
  ASSERT_TRUE(b.Add(Action(1, kT + 1)).ok());
  b.Close(kT + kD);
  ASSERT_TRUE(b.Add(Action(2, kT + kD + 3)).ok());
  Bucketer r(kD);
  ASSERT_TRUE(r.Restore(b.Checkpoint()).ok());
  EXPECT_EQ(r.watermark_ms(), kT + kD);
  EXPECT_EQ(r.open_messages(), 1u);
  EXPECT_FALSE(r.Add(Action(3, kT + 10)).ok());      // behind the watermark
  EXPECT_FALSE(r.Add(Action(2, kT + kD + 4)).ok());  // seq goes back
  EXPECT_TRUE(r.Add(Action(3, kT + kD + 4)).ok());
}

// A close that stops inside a bucket leaves it open with messages older
// than the watermark: a checkpoint of that must restore.
TEST(CheckpointTest, OpenBucketOlderThanAMidBucketWatermarkRestores) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.AddAction(Action(1, kT + 100)).ok());
  std::vector<ClosedObject> out;
  room.Close(kT + 940, &out);  // mid-bucket: the bucket stays open
  RoomCloser restored(Options());
  ASSERT_TRUE(restored.Restore(room.Checkpoint()).ok());
  EXPECT_EQ(Continue(room), Continue(restored));
}

TEST(CheckpointTest, StateRoundTripsAfterCompaction) {
  RoomState s("lobby", 7, 100);
  ASSERT_TRUE(s.Set("title", Text("a"), 1, "x").ok());
  ASSERT_TRUE(s.Set("title", Text("b"), 2, "x").ok());
  ASSERT_TRUE(s.Set("pinned", Text("c"), 3, "x").ok());
  s.Compact(s.total_version());
  RoomState r("lobby", 7, 100);
  ASSERT_TRUE(r.Restore(s.Checkpoint()).ok());
  EXPECT_EQ(SerializeDeterministic(*r.Snapshot(103)),
            SerializeDeterministic(*s.Snapshot(103)));
  EXPECT_FALSE(r.Snapshot(101).ok());  // compacted away in both
  EXPECT_EQ(r.Set("title", Text("d"), 4, "x")->version(), 103u);
  RoomState other_room("hall", 7, 100);
  EXPECT_FALSE(other_room.Restore(s.Checkpoint()).ok());
}

TEST(CheckpointTest, ManifestRoundTrips) {
  ManifestBuilder m(Options().identity);
  v1::ActionSegment seg;
  seg.set_index(kK);
  seg.set_first_seq(1);
  seg.set_last_seq(3);
  m.AddSegment(seg, "digest");
  m.End();
  ManifestBuilder r(Options().identity);
  ASSERT_TRUE(r.Restore(m.Checkpoint()).ok());
  EXPECT_EQ(SerializeDeterministic(r.Build(5, kT)),
            SerializeDeterministic(m.Build(5, kT)));
}

}  // namespace
}  // namespace roomcast::segmenter
