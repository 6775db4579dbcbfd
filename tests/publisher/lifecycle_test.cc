// The log lifecycle through the real publisher (DESIGN §14), on a real
// RocksDB log with a fake clock and a fake origin: once published, a room's
// records are replaced by its checkpoint and deleted, and a restart after
// that rebuilds the room so that it goes on exactly as it would have:
// re-published objects byte-identical, seq and replies continued, the
// rollup window and the state intact. Ended rooms are forgotten after their
// retention; a record that cannot be replayed is quarantined, never a
// failed start.
#include <filesystem>
#include <limits>

#include "gtest/gtest.h"
#include "publisher/internal/durable_log.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/segment.h"
#include "tests/publisher/publisher_harness.h"

namespace roomcast::publisher {
namespace {

using testing::Anchor;
using testing::Comment;
using testing::Harness;
using testing::kT0;

constexpr char kTrim[] = "roomcast_publisher_log_trim_lsn";

// Checkpoints at every round a room is due, and rooms are due when quiet
// at once: every published record goes as soon as it can.
PublisherOptions Eager() {
  PublisherOptions o;
  o.rollup_ms = 10000;
  o.lifecycle.period_ms = 0;
  o.lifecycle.quiet_ms = 0;
  return o;
}

google::protobuf::Value Text(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}

std::string Segment(int64_t k) {
  return segmenter::SegmentPath("lobby", 1000, k);
}

TEST(LifecycleTest, PublishedRecordsAreDeletedAndARestartGoesOnAsIfNot) {
  Harness h(Eager());
  const int64_t k = kT0 / 1000;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  auto c1 = h.PostOne("lobby", Comment("one", "c-1"));
  ASSERT_TRUE(c1.ok());
  ASSERT_TRUE(h.Post("lobby", {Comment("two"), Comment("three", "c-3")}).ok());
  ASSERT_TRUE(h.Peer("lobby", "u1", Comment("psst")).ok());
  ASSERT_TRUE(h.Set("lobby", "title", Text("Friday")).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  const double first_trim = h.Metric(kTrim);
  EXPECT_GE(first_trim, 7);  // open, 3 actions, peer, state: all published

  h.clock.Set(kT0 + 1100);
  ASSERT_TRUE(h.Post("lobby", {Comment("four"), Comment("five")}).ok());
  ASSERT_TRUE(h.Set("lobby", "pinned", Text("rules")).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 2000).ok());
  EXPECT_GT(h.Metric(kTrim), first_trim);

  // Bucket k+2 reaches the origin, but the acks are lost: it stays queued,
  // its room is not checkpointed, and a restart must publish it again.
  h.clock.Set(kT0 + 2100);
  ASSERT_TRUE(h.Post("lobby", {Comment("six", "c-6")}).ok());
  h.origin.SetLoseAcks(true);
  EXPECT_FALSE(h.TickAt(kT0 + 3000).ok());
  const std::string lost = h.origin.Get(Segment(k + 2));
  ASSERT_FALSE(lost.empty());
  h.Restart();
  h.origin.SetLoseAcks(false);
  ASSERT_TRUE(h.TickAt(kT0 + 3000).ok());
  EXPECT_EQ(h.origin.Get(Segment(k + 2)), lost);
  EXPECT_EQ(h.origin.conflicts(), 0);

  // Seq and replies go on from before the trim.
  h.clock.Set(kT0 + 3100);
  auto retry = h.PostOne("lobby", Comment("one", "c-1"));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->SerializeAsString(), c1->SerializeAsString());
  auto seven = h.PostOne("lobby", Comment("seven"));
  ASSERT_TRUE(seven.ok());
  EXPECT_EQ(seven->seq(), 7u);

  // The rollup window began before the trim: its rollup holds every bucket.
  ASSERT_TRUE(h.TickAt(kT0 + 10000).ok());
  std::vector<v1::ActionSegment> window;
  for (int64_t i = k; i < k + 10; ++i) {
    v1::ActionSegment s = h.origin.GetProto<v1::ActionSegment>(Segment(i));
    if (s.last_seq() == 0) continue;
    s.clear_peer_hint();
    window.push_back(s);
  }
  ASSERT_EQ(window.size(), 4u);
  absl::StatusOr<v1::ActionSegment> rollup =
      segmenter::BuildRollup(10000, kT0 / 10000, window);
  ASSERT_TRUE(rollup.ok());
  EXPECT_EQ(h.origin.Get(segmenter::SegmentPath("lobby", 10000, kT0 / 10000)),
            segmenter::SerializeDeterministic(*rollup));
  EXPECT_EQ(rollup->first_seq(), 1u);
  EXPECT_EQ(rollup->last_seq(), 7u);

  // State set before the trim is still the room's: a new set's snapshot and
  // the manifest list both older components.
  h.clock.Set(kT0 + 10100);
  auto live = h.Set("lobby", "live", Text("yes"));
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(h.TickAt(kT0 + 11000).ok());
  v1::StateSnapshot snap =
      h.origin.GetProto<v1::StateSnapshot>(segmenter::SnapshotPath(
          "lobby", static_cast<int64_t>(live->total_version)));
  ASSERT_EQ(snap.components_size(), 3);
  v1::Manifest m =
      h.origin.GetProto<v1::Manifest>(segmenter::ManifestPath("lobby"));
  EXPECT_EQ(m.components_size(), 3);
  EXPECT_EQ(m.last_seq(), 7u);
  EXPECT_EQ(h.origin.conflicts(), 0);
  EXPECT_EQ(h.Metric("roomcast_publisher_log_quarantined_total"), 0);
}

TEST(LifecycleTest, OpenBucketAndPendingStateSurviveATrimAndARestart) {
  Harness h(Eager());
  const int64_t k = kT0 / 1000;
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.TickAt(kT0 + 500).ok());
  h.clock.Set(kT0 + 600);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  ASSERT_TRUE(h.Set("lobby", "title", Text("t")).ok());
  // Mid-bucket: the bucket stays open, yet the room is checkpointed with
  // it and its records go.
  ASSERT_TRUE(h.TickAt(kT0 + 700).ok());
  EXPECT_GE(h.Metric(kTrim), 5);
  h.Restart();
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  v1::ActionSegment seg = h.origin.GetProto<v1::ActionSegment>(Segment(k));
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 2u);
  EXPECT_EQ(h.origin.GetProto<v1::Manifest>(segmenter::ManifestPath("lobby"))
                .components_size(),
            1);
}

// Replies are kept without their records (reply chunks), for their window
// and no longer: an expired chunk is deleted.
TEST(LifecycleTest, RepliesOutliveTheirRecordsButNotTheirWindow) {
  PublisherOptions o = Eager();
  o.idempotency_window_ms = 1000;
  o.lifecycle.reply_expiry_ms = 0;
  Harness h(o);
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_EQ(h.PostOne("lobby", Comment("a", "c-1"))->seq(), 1u);
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  EXPECT_GE(h.Metric(kTrim), 3);  // its record is gone
  h.Restart();
  h.clock.Set(kT0 + 1100);
  EXPECT_EQ(h.PostOne("lobby", Comment("a", "c-1"))->seq(), 1u);  // a retry
  h.clock.Set(kT0 + 5000);
  ASSERT_EQ(h.PostOne("lobby", Comment("b"))->seq(), 2u);
  ASSERT_TRUE(h.TickAt(kT0 + 6000).ok());  // the chunk of c-1 expires
  h.Restart();
  h.clock.Set(kT0 + 6100);
  EXPECT_EQ(h.PostOne("lobby", Comment("a", "c-1"))->seq(), 3u);  // new
}

TEST(LifecycleTest, EndedRoomIsForgottenAfterItsRetention) {
  Harness h(Eager());
  v1::OpenRoomRequest req;
  req.set_retention_s(60);
  ASSERT_TRUE(h.Open("lobby", req).ok());
  ASSERT_TRUE(h.Open("hall").ok());
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms"), 2);
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("bye")).ok());
  ASSERT_TRUE(h.End("lobby").ok());
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms"), 1);  // open rooms only
  ASSERT_TRUE(h.TickAt(kT0 + 2000).ok());
  EXPECT_TRUE(h.pub->HintKeyFor(Anchor(), "lobby", "anchor").ok());  // known
  ASSERT_TRUE(h.TickAt(kT0 + 100 + 59000).ok());
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms_forgotten_total"), 0);
  ASSERT_TRUE(h.TickAt(kT0 + 100 + 61000).ok());
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms_forgotten_total"), 1);
  EXPECT_EQ(h.pub->HintKeyFor(Anchor(), "lobby", "anchor").status().code(),
            absl::StatusCode::kNotFound);
  // Gone for good: not rebuilt by a restart, and its name is free again.
  h.Restart();
  EXPECT_EQ(h.pub->HintKeyFor(Anchor(), "lobby", "anchor").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms"), 1);
  EXPECT_EQ(h.Metric("roomcast_publisher_log_quarantined_total"), 0);
  ASSERT_TRUE(h.Open("lobby", req).ok());
  auto again = h.PostOne("lobby", Comment("hello again"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->seq(), 1u);  // a new room, a new epoch
}

// Appends raw records to a stopped publisher's log, as a bug or a disk
// could have left them.
void AppendToLog(const std::string& dir, std::vector<log::Record> records) {
  auto log = internal::DurableLog::Open({.dir = dir, .sync = false});
  ASSERT_TRUE(log.ok()) << log.status();
  absl::Notification n;
  (*log)->Submit({.prepare =
                      [&](std::vector<log::Record>* out) {
                        for (auto& r : records) out->push_back(r);
                      },
                  .done =
                      [&](absl::Status s) {
                        EXPECT_TRUE(s.ok()) << s;
                        n.Notify();
                      }});
  n.WaitForNotification();
}

// Custom data nested `levels` JSON arrays deep.
v1::Message Nested(uint64_t seq, int64_t ts_ms, int levels) {
  v1::Message m;
  m.set_seq(seq);
  m.set_ts_ms(ts_ms);
  m.set_kind(v1::KIND_ACTION);
  m.set_sender("x");
  google::protobuf::Value* v =
      &(*m.mutable_custom()->mutable_data()->mutable_fields())["deep"];
  for (int i = 0; i < levels; ++i) v = v->mutable_list_value()->add_values();
  v->set_number_value(1);
  return m;
}

TEST(LifecycleTest, UnreplayableRecordsAreQuarantinedAndStallOnlyTheirRoom) {
  PublisherOptions o;
  o.lifecycle.quiet_ms = 1 << 30;  // keep every record: nothing trims
  Harness h(o);
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.Open("hall").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("a")).ok());
  ASSERT_TRUE(h.PostOne("hall", Comment("b"), testing::Service()).ok());
  h.pub.reset();
  log::Record goes_back;  // seq 1 again: does not apply
  goes_back.set_room("lobby");
  *goes_back.mutable_action()->mutable_message() = Nested(1, kT0 + 200, 1);
  log::Record too_deep;  // past any parse headroom: does not parse
  too_deep.set_room("lobby");
  *too_deep.mutable_action()->mutable_message() = Nested(3, kT0 + 300, 80);
  log::Record deep_but_fine;  // as deep as ingest can accept: replays
  deep_but_fine.set_room("hall");
  *deep_but_fine.mutable_action()->mutable_message() = Nested(2, kT0 + 300, 47);
  log::Record no_buckets;  // a room no bucket could be closed in
  no_buckets.set_room("bad");
  no_buckets.mutable_opened()->mutable_config()->set_bucket_ms(0);
  log::Record end_of_time;  // its bucket's end would overflow
  end_of_time.set_room("lobby");
  *end_of_time.mutable_action()->mutable_message() =
      Nested(2, std::numeric_limits<int64_t>::max() - 5, 1);
  AppendToLog(h.dir_.path(),
              {goes_back, too_deep, deep_but_fine, no_buckets, end_of_time});
  {
    auto log =
        internal::DurableLog::Open({.dir = h.dir_.path(), .sync = false});
    ASSERT_TRUE(log.ok());
    log::RoomCheckpoint ghost;  // parses, but names an impossible room
    ghost.set_room("ghost");
    ghost.mutable_opened()->mutable_config()->set_bucket_ms(0);
    ASSERT_TRUE((*log)->WriteCheckpoint({.checkpoints = {ghost}}).ok());
  }

  h.Start();  // the start must not fail
  ASSERT_NE(h.pub, nullptr);
  EXPECT_EQ(h.Metric("roomcast_publisher_log_quarantined_total"), 5);
  EXPECT_EQ(h.Metric("roomcast_publisher_rooms_stalled"), 1);
  // The other room goes on, its deep record replayed.
  h.clock.Set(kT0 + 400);
  auto next = h.PostOne("hall", Comment("c"), testing::Service());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq(), 3u);
  // Moved aside, not lost, and not quarantined again.
  h.Restart();
  EXPECT_EQ(h.Metric("roomcast_publisher_log_quarantined_total"), 0);
}

}  // namespace
}  // namespace roomcast::publisher
