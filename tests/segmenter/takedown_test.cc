// Takedown stubs (DESIGN §11): StubMessages replaces exactly the listed
// messages by Message{seq, ts_ms, redacted{}}, leaves everything else as it
// was, and a RoomCloser renders stubs into every segment and rollup it
// closes after a takedown, reporting what the object was without them.
#include "segmenter/takedown.h"

#include <gtest/gtest.h>

#include "segmenter/codec.h"
#include "segmenter/room_closer.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

constexpr int64_t kD = 1000;
constexpr int64_t kR = 10000;
constexpr int64_t kK = 1764290000;
constexpr int64_t kT = kK * kD;

v1::ActionSegment ThreeMessages() {
  SegmentParams p{.room = "lobby", .epoch = 7, .bucket_ms = kD, .index = kK};
  return BuildSegment(p, {Action(1, kT + 1), Action(2, kT + 2), Action(3, kT + 3)});
}

TEST(TakedownTest, StubKeepsOnlySeqAndTime) {
  v1::Message m = Action(5, kT + 9, "alice", v1::ROLE_ANCHOR);
  m.set_recipient("bob");
  const v1::Message stub = StubOf(m);
  v1::Message want;
  want.set_seq(5);
  want.set_ts_ms(kT + 9);
  want.mutable_redacted();
  EXPECT_EQ(SerializeDeterministic(stub), SerializeDeterministic(want));
  EXPECT_TRUE(IsStub(stub));
  EXPECT_FALSE(IsStub(m));
}

TEST(TakedownTest, ReplacesOnlyListedMessages) {
  const v1::ActionSegment before = ThreeMessages();
  v1::ActionSegment seg = before;
  const std::vector<uint64_t> seqs = {2, 9};
  EXPECT_EQ(StubMessages(&seg, seqs), std::vector<uint64_t>({2}));
  ASSERT_EQ(seg.messages_size(), 3);
  EXPECT_EQ(SerializeDeterministic(seg.messages(0)), SerializeDeterministic(before.messages(0)));
  EXPECT_EQ(SerializeDeterministic(seg.messages(1)),
            SerializeDeterministic(StubOf(before.messages(1))));
  EXPECT_EQ(SerializeDeterministic(seg.messages(2)), SerializeDeterministic(before.messages(2)));
  // The summary stays: a stub still counts as a kept message.
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 3u);
  EXPECT_TRUE(HoldsStubs(seg));
  EXPECT_FALSE(HoldsStubs(before));
}

TEST(TakedownTest, StubbingTwiceChangesNothing) {
  v1::ActionSegment seg = ThreeMessages();
  const std::vector<uint64_t> seqs = {1, 3};
  EXPECT_EQ(StubMessages(&seg, seqs), std::vector<uint64_t>({1, 3}));
  const std::string once = SerializeDeterministic(seg);
  EXPECT_TRUE(StubMessages(&seg, seqs).empty());
  EXPECT_EQ(SerializeDeterministic(seg), once);
}

RoomCloserOptions Options() {
  v1::RoomConfig config;
  config.set_bucket_ms(kD);
  config.set_rollup_ms(kR);
  config.set_action_cap_per_s(0);
  return {.identity = {.room = "lobby", .epoch = 7, .publisher = "pub-1",
                       .opened_ms = kT, .config = config},
          .hint_secret = "room-secret"};
}

const ClosedObject* Find(const std::vector<ClosedObject>& out, const std::string& path) {
  for (const ClosedObject& o : out) {
    if (o.path == path) return &o;
  }
  return nullptr;
}

TEST(TakedownTest, CloserStubsSegmentsAndRollupsClosedAfterATakedown) {
  RoomCloser plain(Options());
  RoomCloser closer(Options());
  const int64_t t0 = BucketStart(BucketIndex(kT, kR), kR);
  for (RoomCloser* c : {&plain, &closer}) {
    ASSERT_TRUE(c->AddAction(Action(1, t0 + 10)).ok());
    ASSERT_TRUE(c->AddAction(Action(2, t0 + kD + 10)).ok());
  }
  std::vector<ClosedObject> first, first_plain;
  plain.Close(t0 + kD, &first_plain);
  closer.Close(t0 + kD, &first);  // bucket 0 is published, unstubbed
  closer.TakeDown({1, 2});        // 1 is in the rollup window still open
  std::vector<ClosedObject> out, out_plain;
  plain.Close(t0 + kR, &out_plain);
  closer.Close(t0 + kR, &out);
  const std::string seg = SegmentPath("lobby", kD, BucketIndex(t0, kD) + 1);
  const std::string rollup = SegmentPath("lobby", kR, BucketIndex(t0, kR));
  for (const std::string& path : {seg, rollup}) {
    SCOPED_TRACE(path);
    const ClosedObject* o = Find(out, path);
    const ClosedObject* p = Find(out_plain, path);
    ASSERT_NE(o, nullptr);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(o->unstubbed_digest, Encode(*Decode(ObjectClass::kActions, p->bytes).value()).digest);
    v1::ActionSegment got, want;
    ASSERT_TRUE(got.ParseFromString(o->bytes));
    ASSERT_TRUE(want.ParseFromString(p->bytes));
    const std::vector<uint64_t> seqs = {1, 2};
    const std::vector<uint64_t> changed = StubMessages(&want, seqs);
    EXPECT_EQ(o->stubbed, changed);
    EXPECT_EQ(o->bytes, SerializeDeterministic(want));
  }
  EXPECT_EQ(Find(out, rollup)->stubbed, std::vector<uint64_t>({1, 2}));
  EXPECT_TRUE(Find(first, SegmentPath("lobby", kD, BucketIndex(t0, kD)))->stubbed.empty());
}

TEST(TakedownTest, AReplacedSegmentIsListedWithItsNewDigest) {
  RoomCloser closer(Options());
  ASSERT_TRUE(closer.AddAction(Action(1, kT + 10)).ok());
  std::vector<ClosedObject> out;
  closer.Close(kT + kD, &out);
  const std::string path = SegmentPath("lobby", kD, kK);
  const std::string old_digest = Encode(*Decode(ObjectClass::kActions, out.at(0).bytes).value()).digest;
  const uint64_t v = closer.manifest().version();
  closer.Replaced(path, std::string(64, 'f'), std::string(64, 'e'));  // not its digest
  closer.Replaced(SegmentPath("lobby", kR, kK * kD / kR), old_digest, std::string(64, 'e'));
  EXPECT_EQ(closer.manifest().version(), v);
  closer.Replaced(path, old_digest, std::string(64, 'e'));
  EXPECT_EQ(closer.manifest().version(), v + 1);
  ASSERT_EQ(closer.manifest().Checkpoint().recent_size(), 1);
  EXPECT_EQ(closer.manifest().Checkpoint().recent(0).digest(), std::string(64, 'e'));
}

TEST(TakedownTest, TakenDownSeqsSurviveACheckpoint) {
  RoomCloser closer(Options());
  closer.TakeDown({4, 8});
  RoomCloser restored(Options());
  ASSERT_TRUE(restored.Restore(closer.Checkpoint()).ok());
  EXPECT_EQ(restored.taken_down(), std::set<uint64_t>({4, 8}));
}

}  // namespace
}  // namespace roomcast::segmenter
