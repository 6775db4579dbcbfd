#include "segmenter/room_closer.h"

#include <gtest/gtest.h>

#include "segmenter/cap.h"
#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

constexpr int64_t kD = 1000;
constexpr int64_t kK = 1764290000;  // a bucket index
constexpr int64_t kT = kK * kD;     // its start
constexpr char kSecret[] = "room-secret";

RoomCloserOptions Options(int64_t rollup_ms = kD, uint32_t cap = 0) {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(static_cast<uint32_t>(rollup_ms));
  config.set_action_cap_per_s(cap);
  return {.identity = {.room = "lobby",
                       .epoch = 7,
                       .publisher = "pub-1",
                       .opened_ms = kT,
                       .config = config},
          .hint_secret = kSecret};
}

v1::Message PeerTo(const std::string& user, uint64_t seq, int64_t ts_ms) {
  v1::Message m = Action(seq, ts_ms, "moderator", v1::ROLE_MODERATOR);
  m.set_kind(v1::KIND_PEER);
  m.set_recipient(user);
  return m;
}

std::vector<ClosedObject> CloseAt(RoomCloser& room, int64_t watermark_ms) {
  std::vector<ClosedObject> out;
  room.Close(watermark_ms, &out);
  return out;
}

template <typename M>
M Parse(const ClosedObject& o) {
  M m;
  EXPECT_TRUE(m.ParseFromString(o.bytes)) << o.path;
  return m;
}

TEST(RoomCloserTest, BucketClosesIntoItsSegmentOnceTheWatermarkPassesItsEnd) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.AddAction(Action(1, kT + 10)).ok());
  ASSERT_TRUE(room.AddAction(Action(2, kT + 900)).ok());
  EXPECT_TRUE(CloseAt(room, kT + kD - 1).empty());
  EXPECT_TRUE(room.HasUnclosed());

  std::vector<ClosedObject> out = CloseAt(room, kT + kD);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].cls, ObjectClass::kActions);
  EXPECT_EQ(out[0].path, SegmentPath("lobby", kD, kK));
  EXPECT_EQ(out[0].gate_ms, kT + kD - 1);
  v1::ActionSegment seg = Parse<v1::ActionSegment>(out[0]);
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 2u);
  EXPECT_EQ(seg.epoch(), 7u);
  EXPECT_FALSE(room.HasUnclosed());
  // The manifest lists it, with the digest of exactly these bytes.
  v1::Manifest m = room.manifest().Build(kT + kD, kT + kD);
  ASSERT_EQ(m.recent_segments_size(), 1);
  EXPECT_EQ(m.recent_segments(0).digest(), Encode(seg).digest);
  // Nothing may land in a closed bucket.
  EXPECT_FALSE(room.AddAction(Action(3, kT + 999)).ok());
}

TEST(RoomCloserTest, OpenMessagesFedToTheBucketsCapAreWhatItsSegmentHolds) {
  // What the publisher's live pusher does: admit an open bucket's records
  // one by one in seq order, skipping tombstones, with the bucket's params.
  RoomCloser room(Options(kD, /*cap=*/8));
  for (uint64_t s = 1; s <= 40; ++s) {
    ASSERT_TRUE(
        room.AddAction(Action(s, kT + static_cast<int64_t>(s),
                              s % 2 ? "flood" : "u" + std::to_string(s)))
            .ok());
  }
  ASSERT_TRUE(room.AddAction(Action(41, kT + kD + 5)).ok());  // the next bucket
  ASSERT_TRUE(room.RetractOpen(4));
  EXPECT_EQ(room.OpenBuckets(), (std::vector<int64_t>{kK, kK + 1}));
  EXPECT_EQ(room.OpenMessages(kK - 1), nullptr);
  const std::vector<v1::Message>* open = room.OpenMessages(kK);
  ASSERT_NE(open, nullptr);
  ASSERT_EQ(open->size(), 40u);
  const SegmentParams p = room.SegmentParamsFor(kK);
  EXPECT_EQ(p.limit, 8);
  EXPECT_EQ(p.max_bytes, kMaxObjectBytes);
  EXPECT_EQ(p.index, kK);
  OnlineCap cap(p.limit, p.max_bytes);
  std::string streamed;
  for (const v1::Message& m : *open) {
    if (m.body_case() != v1::Message::BODY_NOT_SET && cap.Admit(m))
      streamed += EncodeRecord(m);
  }
  std::vector<ClosedObject> out = CloseAt(room, kT + kD);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(room.OpenMessages(kK), nullptr);  // closed now
  absl::StatusOr<SegmentParts> parts = SplitSegment(out[0].bytes);
  ASSERT_TRUE(parts.ok()) << parts.status();
  std::string records;
  for (absl::string_view r : parts->records) records.append(r.data(), r.size());
  EXPECT_EQ(records, streamed);
  EXPECT_EQ(parts->records.size(), 8u);
  const v1::ActionSegment seg = Parse<v1::ActionSegment>(out[0]);
  EXPECT_EQ(seg.retracted_size(), 1);
  EXPECT_EQ(seg.dropped().at("comment"), 31u);
}

TEST(RoomCloserTest,
     PeerObjectsPrecedeTheirSegmentWhoseHintMatchesOnlyRecipients) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.AddAction(Action(1, kT + 10)).ok());
  room.AddPeer(PeerTo("u2", 1, kT + 20));
  room.AddPeer(PeerTo("u2", 2, kT + 30));
  room.AddPeer(PeerTo("u3", 3, kT + 40));
  std::vector<ClosedObject> out = CloseAt(room, kT + kD);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].path, PeerPath("lobby", "u2", kD, kK));
  EXPECT_EQ(out[1].path, PeerPath("lobby", "u3", kD, kK));
  EXPECT_EQ(out[2].path, SegmentPath("lobby", kD, kK));
  EXPECT_EQ(out[0].cls, ObjectClass::kPeer);
  EXPECT_EQ(out[0].gate_ms, kT + kD - 1);
  EXPECT_EQ(Parse<v1::PeerBatch>(out[0]).messages_size(), 2);

  const v1::ActionSegment seg = Parse<v1::ActionSegment>(out[2]);
  ASSERT_TRUE(seg.has_peer_hint());
  EXPECT_TRUE(
      PeerHintMayContain(seg.peer_hint(), DeriveHintKey(kSecret, "u2"), kK));
  EXPECT_TRUE(
      PeerHintMayContain(seg.peer_hint(), DeriveHintKey(kSecret, "u3"), kK));
  int strangers_matched = 0;
  for (int i = 0; i < 100; ++i) {
    strangers_matched += PeerHintMayContain(
        seg.peer_hint(), DeriveHintKey(kSecret, "x" + std::to_string(i)), kK);
  }
  EXPECT_LT(strangers_matched, 10);  // a 1% false-positive filter
}

TEST(RoomCloserTest, PeerObjectHeaderIsWhatTheOriginSynthesizes) {
  RoomCloser room(Options());
  room.AddPeer(PeerTo("u2", 1, kT + 20));
  std::vector<ClosedObject> out = CloseAt(room, kT + kD);
  ASSERT_FALSE(out.empty());
  v1::PeerBatch batch = Parse<v1::PeerBatch>(out[0]);
  batch.clear_messages();
  EXPECT_EQ(SerializeDeterministic(batch),
            SerializeDeterministic(EmptyPeerBatch("lobby", 7, "u2", kD, kK)));
}

TEST(RoomCloserTest,
     BucketWithOnlyPeerMessagesGetsAnEmptySegmentCarryingTheHint) {
  RoomCloser room(Options());
  room.AddPeer(PeerTo("u2", 1, kT + 20));
  std::vector<ClosedObject> out = CloseAt(room, kT + kD);
  ASSERT_EQ(out.size(), 2u);
  const v1::ActionSegment seg = Parse<v1::ActionSegment>(out[1]);
  EXPECT_EQ(seg.last_seq(), 0u);
  ASSERT_EQ(seg.messages_size(), 1);  // the peer notice, no action
  EXPECT_EQ(seg.messages(0).seq(), 0u);
  EXPECT_TRUE(seg.messages(0).notice().has_peer());
  EXPECT_TRUE(seg.has_peer_hint());
  // Listed, so a manifest-hold follower looks at it and finds its message.
  EXPECT_EQ(room.manifest().Build(kT + kD, kT + kD).recent_segments_size(), 1);
}

TEST(RoomCloserTest, RollupIsMadeOnceItsWindowHasEnded) {
  RoomCloser room(Options(/*rollup_ms=*/4 * kD));
  const int64_t r0 = kT - kT % (4 * kD);
  ASSERT_TRUE(room.AddAction(Action(1, r0 + 100)).ok());
  ASSERT_TRUE(room.AddAction(Action(2, r0 + 2 * kD + 100)).ok());
  std::vector<ClosedObject> out = CloseAt(room, r0 + 3 * kD);
  ASSERT_EQ(out.size(), 2u);  // the two buckets, no rollup yet
  EXPECT_TRUE(room.rollup_pending());
  EXPECT_FALSE(room.HasUnclosed());

  out = CloseAt(room, r0 + 4 * kD);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, SegmentPath("lobby", 4 * kD, r0 / (4 * kD)));
  EXPECT_EQ(out[0].gate_ms, r0 + 4 * kD - 1);
  const v1::ActionSegment rollup = Parse<v1::ActionSegment>(out[0]);
  EXPECT_EQ(rollup.first_seq(), 1u);
  EXPECT_EQ(rollup.last_seq(), 2u);
  EXPECT_FALSE(rollup.has_peer_hint());
  EXPECT_FALSE(room.rollup_pending());
}

TEST(RoomCloserTest, StateChangesCloseIntoTheirObjectsThenTheSnapshot) {
  RoomCloser room(Options());
  google::protobuf::Value v;
  v.set_string_value("Friday");
  ASSERT_TRUE(room.SetState("title", v, kT + 300, "anchor").ok());
  ASSERT_TRUE(room.SetState("pinned", v, kT + 200, "anchor").ok());
  EXPECT_TRUE(room.HasUnclosed());
  std::vector<ClosedObject> out = CloseAt(room, kT);  // no bucket needed
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].cls, ObjectClass::kState);
  EXPECT_EQ(out[0].path, StatePath("lobby", "title", 1));
  EXPECT_EQ(out[0].gate_ms, kT + 300);
  EXPECT_EQ(Parse<v1::StateComponent>(out[0]).value().string_value(), "Friday");
  EXPECT_EQ(out[2].cls, ObjectClass::kSnapshot);
  EXPECT_EQ(out[2].path, SnapshotPath("lobby", 2));
  EXPECT_EQ(out[2].gate_ms, kT + 200);  // the earliest set it covers
  EXPECT_EQ(Parse<v1::StateSnapshot>(out[2]).components_size(), 2);
  EXPECT_EQ(room.manifest().Build(kT, kT).state_version(), 2u);
  // The bucket holds the two sets' notices, no action: its segment is
  // stored but not listed (nothing for a catching-up reader in it).
  out = CloseAt(room, kT + kD);
  ASSERT_EQ(out.size(), 1u);
  const v1::ActionSegment seg = Parse<v1::ActionSegment>(out[0]);
  ASSERT_EQ(seg.messages_size(), 2);
  EXPECT_EQ(seg.messages(0).notice().state().name(), "title");
  EXPECT_EQ(seg.messages(1).notice().state().name(), "pinned");
  EXPECT_EQ(seg.last_seq(), 0u);
  EXPECT_EQ(room.manifest().Build(kT + kD, kT + kD).recent_segments_size(), 0);
  EXPECT_TRUE(CloseAt(room, kT + 2 * kD).empty());
}

TEST(RoomCloserTest, StateVersionsCountFromTheBase) {
  RoomCloserOptions o = Options();
  o.state_version_base = 1000;
  RoomCloser room(std::move(o));
  auto c = room.SetState("title", google::protobuf::Value(), kT, "anchor");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->version(), 1001u);
  EXPECT_EQ(CloseAt(room, kT)[0].path, StatePath("lobby", "title", 1001));
}

TEST(RoomCloserTest, SegmentKeepsTheRoomsActionCap) {
  RoomCloser room(Options(kD, /*cap=*/2));
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    ASSERT_TRUE(room.AddAction(Action(seq, kT + static_cast<int64_t>(seq),
                                      "v" + std::to_string(seq)))
                    .ok());
  }
  const v1::ActionSegment seg =
      Parse<v1::ActionSegment>(CloseAt(room, kT + kD)[0]);
  EXPECT_EQ(seg.messages_size(), 2);
  EXPECT_EQ(seg.dropped().at("comment"), 3u);
  EXPECT_EQ(seg.last_seq(), 5u);
}

TEST(RoomCloserTest, SameAdditionsClosedAtTheSameWatermarksGiveTheSameBytes) {
  auto run = [] {
    RoomCloser room(Options(/*rollup_ms=*/2 * kD));
    std::vector<ClosedObject> all;
    for (uint64_t seq = 1; seq <= 6; ++seq) {
      const int64_t ts = kT + static_cast<int64_t>(seq) * 400;
      EXPECT_TRUE(room.AddAction(Action(seq, ts)).ok());
      room.AddPeer(PeerTo("u" + std::to_string(seq % 2), seq, ts));
      room.Close(ts - 500, &all);
    }
    room.Close(kT + 10 * kD, &all);
    return all;
  };
  const std::vector<ClosedObject> a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path, b[i].path);
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].path;
  }
}

TEST(RoomCloserTest, SkipClosesWhatTheOriginHasWithoutMakingItAgain) {
  RoomCloser room(Options());
  ASSERT_TRUE(room.AddAction(Action(1, kT + 10)).ok());
  ASSERT_TRUE(
      room.SetState("title", google::protobuf::Value(), kT + 20, "a").ok());
  ASSERT_TRUE(room.AddAction(Action(2, kT + kD + 10)).ok());
  ASSERT_TRUE(
      room.SetState("title", google::protobuf::Value(), kT + kD + 20, "a")
          .ok());
  room.Skip(kT + kD);
  std::vector<ClosedObject> out = CloseAt(room, kT + 2 * kD);
  // Only what came after the skipped time: bucket k+1 and the second set.
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].path, SegmentPath("lobby", kD, kK + 1));
  EXPECT_EQ(out[1].path, StatePath("lobby", "title", 2));
  EXPECT_EQ(out[2].path, SnapshotPath("lobby", 2));
  // The skipped bucket still counts in the manifest.
  EXPECT_EQ(room.manifest().Build(kT, kT).recent_segments_size(), 2);
}

TEST(RoomCloserTest, ExpiryFallsAmongSetsByTimeNotByWhenCloseRan) {
  google::protobuf::Value v;
  v.set_string_value("x");
  // Live: a close after the pin expired, then a later set.
  RoomCloser live(Options());
  ASSERT_TRUE(live.SetState("pin", v, kT + 10, "m", kT + 500).ok());
  std::vector<ClosedObject> first = CloseAt(live, kT + 600);
  ASSERT_TRUE(live.SetState("title", v, kT + 700, "a").ok());
  std::vector<ClosedObject> second = CloseAt(live, kT + 800);
  // Replay: both sets applied, then one close.
  RoomCloser replay(Options());
  ASSERT_TRUE(replay.SetState("pin", v, kT + 10, "m", kT + 500).ok());
  ASSERT_TRUE(replay.SetState("title", v, kT + 700, "a").ok());
  std::vector<ClosedObject> once = CloseAt(replay, kT + 800);
  ASSERT_FALSE(second.empty());
  ASSERT_FALSE(once.empty());
  EXPECT_EQ(second.back().path, once.back().path);  // the same snapshot
  EXPECT_EQ(second.back().bytes, once.back().bytes);
  EXPECT_EQ(once.back().path, SnapshotPath("lobby", 3));
  const v1::StateSnapshot snap = Parse<v1::StateSnapshot>(once.back());
  ASSERT_EQ(snap.components_size(), 1);
  EXPECT_EQ(snap.components(0).name(), "title");
  EXPECT_EQ(live.manifest().Build(kT, kT).components_size(), 1);
  EXPECT_EQ(live.next_expiry_ms(), 0);
  // The close after the pin expired published a snapshot without it.
  EXPECT_EQ(first.back().path, SnapshotPath("lobby", 2));
  EXPECT_EQ(Parse<v1::StateSnapshot>(first.back()).components_size(), 0);
}

}  // namespace
}  // namespace roomcast::segmenter
