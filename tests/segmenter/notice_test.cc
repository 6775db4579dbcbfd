// State and peer notices (DESIGN §10, v1::Notice): records with seq 0 among
// a bucket's actions, so a streaming follower needs no manifest polling.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "segmenter/bucketer.h"
#include "segmenter/checkpoint.pb.h"
#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "segmenter/messages.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "segmenter/room_closer.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;
constexpr char kSecret[] = "room-secret";

RoomCloserOptions Options(int64_t rollup_ms = kD) {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(static_cast<uint32_t>(rollup_ms));
  return {.identity = {.room = "lobby", .epoch = 7, .publisher = "pub-1", .opened_ms = kT,
                       .config = config},
          .hint_secret = kSecret};
}

google::protobuf::Value Str(std::string s) {
  google::protobuf::Value v;
  v.set_string_value(std::move(s));
  return v;
}

v1::Message PeerTo(const std::string& user, uint64_t seq, int64_t ts_ms) {
  v1::Message m = Action(seq, ts_ms, "moderator", v1::ROLE_MODERATOR);
  m.set_kind(v1::KIND_PEER);
  m.set_recipient(user);
  return m;
}

v1::ActionSegment SegmentOf(const std::vector<ClosedObject>& out, const std::string& path) {
  for (const ClosedObject& o : out) {
    if (o.path != path) continue;
    v1::ActionSegment s;
    EXPECT_TRUE(s.ParseFromString(o.bytes));
    return s;
  }
  ADD_FAILURE() << "no " << path;
  return {};
}

TEST(NoticeTest, AStateSetIsANoticeAmongTheActionsAtItsTime) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.AddAction(Action(1, kT + 10)).ok());
  ASSERT_TRUE(room.SetState("title", Str("Friday"), kT + 20, "anchor").ok());
  ASSERT_TRUE(room.AddAction(Action(2, kT + 30)).ok());
  // A live reader sees exactly what the segment will hold, in this order.
  const std::vector<v1::Message>* open = room.OpenMessages(kK);
  ASSERT_NE(open, nullptr);
  ASSERT_EQ(open->size(), 3u);
  EXPECT_TRUE(IsNotice((*open)[1]));

  std::vector<ClosedObject> out;
  room.Close(kT + kD, &out);
  const v1::ActionSegment seg = SegmentOf(out, SegmentPath("lobby", kD, kK));
  ASSERT_EQ(seg.messages_size(), 3);
  EXPECT_EQ(seg.first_seq(), 1u);  // the seq range is the actions'
  EXPECT_EQ(seg.last_seq(), 2u);
  const v1::Message& n = seg.messages(1);
  EXPECT_EQ(n.seq(), 0u);
  EXPECT_EQ(n.ts_ms(), kT + 20);
  EXPECT_EQ(n.priority(), v1::PRIORITY_HIGH);
  ASSERT_TRUE(n.notice().has_state());
  EXPECT_FALSE(n.notice().value_omitted());
  // The notice is the stored component object, whole.
  v1::StateComponent stored;
  for (const ClosedObject& o : out) {
    if (o.path == StatePath("lobby", "title", 1)) {
      ASSERT_TRUE(stored.ParseFromString(o.bytes));
    }
  }
  EXPECT_EQ(SerializeDeterministic(n.notice().state()), SerializeDeterministic(stored));
  // And the layout stays records first: each one a record of the split.
  absl::StatusOr<SegmentParts> parts = SplitSegment(SerializeDeterministic(seg));
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->records.size(), 3u);
}

TEST(NoticeTest, ABigComponentsNoticeLeavesTheValueOut) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.SetState("leaderboard", Str(std::string(kMaxInlineState, 'x')), kT + 5, "svc")
                  .ok());
  ASSERT_TRUE(room.SetState("title", Str("small"), kT + 6, "svc").ok());
  std::vector<ClosedObject> out;
  room.Close(kT + kD, &out);
  const v1::ActionSegment seg = SegmentOf(out, SegmentPath("lobby", kD, kK));
  ASSERT_EQ(seg.messages_size(), 2);
  const v1::Notice& big = seg.messages(0).notice();
  EXPECT_TRUE(big.value_omitted());
  EXPECT_FALSE(big.state().has_value());
  EXPECT_EQ(big.state().name(), "leaderboard");
  EXPECT_EQ(big.state().version(), 1u);  // enough to fetch the object
  EXPECT_FALSE(seg.messages(1).notice().value_omitted());
  EXPECT_EQ(seg.messages(1).notice().state().value().string_value(), "small");
}

TEST(NoticeTest, APeerNoticeIsKeyedPerMessageAndNamesNoOne) {
  RoomCloser room(Options());
  room.AddPeer(PeerTo("u2", 1, kT + 10));
  room.AddPeer(PeerTo("u2", 2, kT + 20));
  room.AddPeer(PeerTo("u3", 3, kT + 30));
  std::vector<ClosedObject> out;
  room.Close(kT + kD, &out);
  const v1::ActionSegment seg = SegmentOf(out, SegmentPath("lobby", kD, kK));
  ASSERT_EQ(seg.messages_size(), 3);
  const HintKey u2 = DeriveHintKey(kSecret, "u2");
  const HintKey u3 = DeriveHintKey(kSecret, "u3");
  EXPECT_EQ(seg.messages(0).notice().peer(), PeerNoticeTag(u2, kK, 1));
  EXPECT_EQ(seg.messages(1).notice().peer(), PeerNoticeTag(u2, kK, 2));
  EXPECT_EQ(seg.messages(2).notice().peer(), PeerNoticeTag(u3, kK, 1));
  EXPECT_NE(seg.messages(0).notice().peer(), seg.messages(1).notice().peer());
  EXPECT_NE(PeerNoticeTag(u2, kK, 1), PeerNoticeTag(u2, kK + 1, 1));
  EXPECT_EQ(seg.messages(0).notice().peer().size(), kPeerNoticeTagBytes);
  // Nothing in the segment names a recipient or a sender of a peer message.
  const std::string bytes = SerializeDeterministic(seg);
  EXPECT_EQ(bytes.find("u2"), std::string::npos);
  EXPECT_EQ(bytes.find("u3"), std::string::npos);
  EXPECT_EQ(bytes.find("moderator"), std::string::npos);
  for (const v1::Message& m : seg.messages()) {
    EXPECT_EQ(m.seq(), 0u);
    EXPECT_TRUE(m.sender().empty());
    EXPECT_TRUE(m.recipient().empty());
  }
}

TEST(NoticeTest, RollupsLeaveNoticesOut) {
  RoomCloser room(Options(/*rollup_ms=*/2 * kD));
  const int64_t r0 = kT - kT % (2 * kD);
  ASSERT_TRUE(room.AddAction(Action(1, r0 + 10)).ok());
  ASSERT_TRUE(room.SetState("title", Str("a"), r0 + 20, "anchor").ok());
  ASSERT_TRUE(room.SetState("title", Str("b"), r0 + kD + 20, "anchor").ok());  // notice only
  ASSERT_TRUE(room.AddAction(Action(2, r0 + kD + 30)).ok());
  std::vector<ClosedObject> out;
  room.Close(r0 + 2 * kD, &out);
  const v1::ActionSegment rollup = SegmentOf(out, SegmentPath("lobby", 2 * kD, r0 / (2 * kD)));
  ASSERT_EQ(rollup.messages_size(), 2);
  EXPECT_EQ(rollup.messages(0).seq(), 1u);
  EXPECT_EQ(rollup.messages(1).seq(), 2u);
  EXPECT_EQ(SegmentOf(out, SegmentPath("lobby", kD, r0 / kD)).messages_size(), 2);
}

TEST(NoticeTest, ANoticeBehindTheRoomsTimeRidesAtItAndNeverMovesSeqs) {
  Bucketer b(kD);
  ASSERT_TRUE(b.Add(Action(1, kT + 500)).ok());
  v1::StateComponent c;
  c.set_name("title");
  c.set_ts_ms(kT + 100);  // set earlier than the last action
  ASSERT_TRUE(b.Add(StateNotice(c)).ok());
  ASSERT_TRUE(b.Add(Action(2, kT + 600)).ok());
  const std::vector<v1::Message>* open = b.OpenMessages(kK);
  ASSERT_NE(open, nullptr);
  ASSERT_EQ(open->size(), 3u);
  EXPECT_EQ((*open)[1].ts_ms(), kT + 500);
  EXPECT_EQ(b.FindOpen(2)->seq(), 2u);  // found past a notice
  EXPECT_EQ(b.FindOpen(1)->seq(), 1u);
  EXPECT_EQ(b.FindOpen(0), nullptr);
  EXPECT_EQ(b.FindOpen(3), nullptr);
  // seq 0 only for notices, and notices only at seq 0.
  EXPECT_EQ(b.Add(Action(0, kT + 700)).code(), absl::StatusCode::kInvalidArgument);
  v1::Message numbered = StateNotice(c);
  numbered.set_seq(3);
  EXPECT_EQ(b.Add(numbered).code(), absl::StatusCode::kInvalidArgument);
}

// FindOpen is a binary search over actions with notices among them: every
// seq is found in its bucket, however the notices fall.
TEST(NoticeTest, EveryActionIsFoundAmongRunsOfNotices) {
  Bucketer b(kD);
  v1::StateComponent c;
  c.set_name("title");
  uint64_t seq = 0;
  for (int i = 0; i < 120; ++i) {
    const int64_t ts = kT + i * 20;  // six buckets' worth
    if (i % 3 == 0 || i % 7 == 0) {
      c.set_ts_ms(ts);
      ASSERT_TRUE(b.Add(StateNotice(c)).ok());
    } else {
      ASSERT_TRUE(b.Add(Action(++seq, ts)).ok());
    }
  }
  for (uint64_t s = 1; s <= seq; ++s) {
    const v1::Message* m = b.FindOpen(s);
    ASSERT_NE(m, nullptr) << s;
    EXPECT_EQ(m->seq(), s);
  }
  EXPECT_EQ(b.FindOpen(seq + 1), nullptr);
}

// An open bucket that starts with a notice, after published actions: the
// checkpoint restores (its first record has no seq to compare with what
// was published) and closes into the same bytes.
TEST(NoticeTest, ACheckpointWithNoticesRestoresToTheSameBytes) {
  RoomCloser a(Options());
  ASSERT_TRUE(a.AddAction(Action(1, kT + 10)).ok());
  std::vector<ClosedObject> first;
  a.Close(kT + kD, &first);
  ASSERT_TRUE(a.SetState("title", Str("x"), kT + kD + 5, "anchor").ok());
  a.AddPeer(PeerTo("u2", 1, kT + kD + 6));
  ASSERT_TRUE(a.AddAction(Action(2, kT + kD + 7)).ok());
  RoomCloser b(Options());
  ASSERT_TRUE(b.Restore(a.Checkpoint()).ok());
  std::vector<ClosedObject> from_a, from_b;
  a.Close(kT + 2 * kD, &from_a);
  b.Close(kT + 2 * kD, &from_b);
  ASSERT_EQ(from_a.size(), from_b.size());
  for (size_t i = 0; i < from_a.size(); ++i) {
    EXPECT_EQ(from_a[i].path, from_b[i].path);
    EXPECT_EQ(from_a[i].bytes, from_b[i].bytes) << from_a[i].path;
  }
  const v1::ActionSegment seg = SegmentOf(from_b, SegmentPath("lobby", kD, kK + 1));
  ASSERT_EQ(seg.messages_size(), 3);
  EXPECT_EQ(seg.first_seq(), 2u);
}

}  // namespace
}  // namespace roomcast::segmenter
