// The live push (publisher/internal/live_pusher.h) through the real
// publisher: a real RocksDB log, a fake clock, and the fake origin's live
// side (fake_uploader.h), which keeps each open bucket's records and answers
// LiveReplies as contract §C says.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/live.h"
#include "segmenter/naming.h"
#include "publisher/internal/live_state.h"
#include "tests/publisher/publisher_harness.h"

namespace roomcast::publisher {
namespace {

using testing::Anchor;
using testing::Comment;
using testing::Harness;
using testing::kT0;
using testing::Viewer;
using testing::Waiter;

const int64_t kBucket = kT0 / 1000;

// The stored segment of bucket k of `room` (D = 1000).
v1::ActionSegment Stored(Harness& h, const std::string& room, int64_t k = kBucket) {
  return h.origin.GetProto<v1::ActionSegment>(segmenter::SegmentPath(room, 1000, k));
}

// The records of the stored segment's bytes (records first, summary last).
std::vector<std::string> StoredRecords(Harness& h, const std::string& room, int64_t k = kBucket) {
  const std::string pb = h.origin.Get(segmenter::SegmentPath(room, 1000, k));
  absl::StatusOr<segmenter::SegmentParts> parts = segmenter::SplitSegment(pb);
  EXPECT_TRUE(parts.ok()) << parts.status();
  if (!parts.ok()) return {};
  return {parts->records.begin(), parts->records.end()};
}

absl::StatusOr<v1::RetractReply> Retract(Harness& h, uint64_t seq) {
  Waiter<v1::RetractReply> w;
  h.pub->Retract(Anchor(), "lobby", seq, v1::RetractRequest(), w.callback());
  return w.Wait();
}

// Every record any batch carried.
std::vector<std::string> EverPushed(Harness& h) {
  std::vector<std::string> out;
  for (const v1::LiveBatch& b : h.origin.batches()) {
    for (const v1::LiveAppend& a : b.appends()) out.insert(out.end(), a.records().begin(), a.records().end());
  }
  return out;
}

// A record (one `messages` field) as its message.
v1::Message Decode(const std::string& record) {
  v1::ActionSegment one;
  EXPECT_TRUE(one.ParseFromString(record) && one.messages_size() == 1);
  return one.messages_size() == 1 ? one.messages(0) : v1::Message();
}

// The records that are actions (notices left out), and the names of the
// state components the notices among `records` announce.
std::vector<std::string> Actions(const std::vector<std::string>& records) {
  std::vector<std::string> out;
  for (const std::string& r : records) {
    if (!Decode(r).has_notice()) out.push_back(r);
  }
  return out;
}
std::vector<std::string> StateNotices(const std::vector<std::string>& records) {
  std::vector<std::string> out;
  for (const std::string& r : records) {
    const v1::Message m = Decode(r);
    if (m.notice().has_state()) out.push_back(m.notice().state().name());
  }
  return out;
}

bool Contains(const std::vector<std::string>& records, const std::string& text) {
  for (const std::string& r : records) {
    if (r.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(LivePusherTest, PushesRecordsBeforeCloseExactlyAsTheClosedSegment) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  h.clock.Set(kT0 + 400);
  ASSERT_TRUE(h.Post("lobby", {Comment("c")}, Viewer("v2")).ok());
  h.pub->SyncLive();
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  ASSERT_EQ(live.size(), 3u);
  EXPECT_FALSE(h.origin.Has(segmenter::SegmentPath("lobby", 1000, kBucket)));
  EXPECT_EQ(h.Metric("roomcast_publisher_live_records_pushed_total"), 3);

  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  const v1::ActionSegment seg = Stored(h, "lobby");
  ASSERT_EQ(seg.messages_size(), 3);
  EXPECT_EQ(StoredRecords(h, "lobby"), live);  // same bytes, same order
  EXPECT_EQ(h.origin.live_conflicts(), 0);
}

TEST(LivePusherTest, TheOnlineCapPushesExactlyTheRecordsTheSegmentKeeps) {
  Harness h;
  v1::OpenRoomRequest open;
  open.set_action_cap_per_s(4);  // 4 a bucket, at most 1 per sender
  ASSERT_TRUE(h.Open("lobby", open).ok());
  h.clock.Set(kT0 + 100);
  for (int i = 0; i < 12; ++i) {
    // Three senders, four each: only one of each fits.
    ASSERT_TRUE(h.PostOne("lobby", Comment(absl::StrCat("m", i)), Viewer(absl::StrCat("v", i % 3))).ok());
    h.pub->SyncLive();
  }
  ASSERT_TRUE(h.PostOne("lobby", Comment("from the anchor"), Anchor()).ok());  // high priority
  h.pub->SyncLive();
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  const v1::ActionSegment seg = Stored(h, "lobby");
  EXPECT_EQ(seg.messages_size(), 4);
  EXPECT_EQ(seg.dropped().at("comment"), 9u);
  EXPECT_EQ(StoredRecords(h, "lobby"), live);
}

TEST(LivePusherTest, ReviewDelayHoldsRecordsBackAndARetractionInsideItIsNeverPushed) {
  Harness h;
  v1::OpenRoomRequest open;
  open.set_review_delay_ms(2000);
  ASSERT_TRUE(h.Open("lobby", open).ok());
  h.clock.Set(kT0 + 100);
  auto first = h.PostOne("lobby", Comment("retract-me"));
  ASSERT_TRUE(first.ok()) << first.status();
  h.clock.Set(kT0 + 200);
  ASSERT_TRUE(h.PostOne("lobby", Comment("keep-me"), Viewer("v2")).ok());
  h.pub->SyncLive();
  EXPECT_TRUE(h.origin.LiveRecords("lobby", 1000, kBucket).empty());  // inside the delay

  ASSERT_TRUE(Retract(h, first->seq()).ok());
  h.clock.Set(kT0 + 2300);  // both are past ts + delay now
  h.pub->SyncLive();
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  ASSERT_EQ(Actions(live).size(), 1u);
  EXPECT_TRUE(Contains(live, "keep-me"));
  EXPECT_FALSE(Contains(EverPushed(h), "retract-me"));
  // The retraction changed the redactions component: its notice streams
  // too (after the review delay, as everything does).
  EXPECT_THAT(StateNotices(live), ::testing::Contains("redactions"));

  ASSERT_TRUE(h.TickAt(kT0 + 3500).ok());  // the bucket's end + the delay
  const v1::ActionSegment seg = Stored(h, "lobby");
  EXPECT_THAT(seg.retracted(), ::testing::ElementsAre(first->seq()));
  EXPECT_EQ(StoredRecords(h, "lobby"), live);
}

TEST(LivePusherTest, RetractionAfterThePushIsARetractRecordAndReplayTakesTheSameBranch) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  auto first = h.PostOne("lobby", Comment("pushed"));
  ASSERT_TRUE(first.ok());
  h.pub->SyncLive();
  ASSERT_EQ(h.origin.LiveRecords("lobby", 1000, kBucket).size(), 1u);
  h.clock.Set(kT0 + 300);
  ASSERT_TRUE(Retract(h, first->seq()).ok());
  h.pub->SyncLive();
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  // The message, then the retract record (and the redactions notice).
  ASSERT_EQ(Actions(live).size(), 2u);
  EXPECT_THAT(StateNotices(live), ::testing::ElementsAre("redactions"));

  // The origin stores the segment but the answer is lost: a restart
  // replays the log and publishes the bucket again.
  h.origin.SetLoseAcks(true);
  EXPECT_FALSE(h.TickAt(kT0 + 1500).ok());
  const std::string first_bytes = h.origin.Get(segmenter::SegmentPath("lobby", 1000, kBucket));
  ASSERT_FALSE(first_bytes.empty());
  h.origin.SetLoseAcks(false);
  h.Restart();
  ASSERT_TRUE(h.TickAt(kT0 + 1600).ok());
  EXPECT_EQ(h.origin.conflicts(), 0);
  EXPECT_EQ(h.origin.Get(segmenter::SegmentPath("lobby", 1000, kBucket)), first_bytes);

  const v1::ActionSegment seg = Stored(h, "lobby");
  ASSERT_EQ(seg.messages_size(), 3);
  EXPECT_EQ(seg.retracted_size(), 0);
  EXPECT_EQ(seg.messages(0).comment().text(), "pushed");
  ASSERT_TRUE(seg.messages(1).has_retract());
  EXPECT_TRUE(seg.messages(2).notice().has_state());
  EXPECT_THAT(seg.messages(1).retract().seqs(), ::testing::ElementsAre(first->seq()));
  EXPECT_EQ(StoredRecords(h, "lobby"), live);
  EXPECT_EQ(h.origin.live_conflicts(), 0);
}

// Whether a pushed message's retraction is a removal or a `retract` record
// depends on whether the origin may hold it: an error answer took nothing,
// a push without an answer may have.
TEST(LivePusherTest, ARetractionAfterAnErrorAnswerIsARemovalAfterNoAnswerARecord) {
  for (const bool answered : {true, false}) {
    SCOPED_TRACE(answered ? "503 answer" : "no answer");
    Harness h;
    ASSERT_TRUE(h.Open("lobby").ok());
    h.clock.Set(kT0 + 100);
    if (answered) h.origin.SetLiveStatus(503); else h.origin.SetLiveDown(true);
    auto first = h.PostOne("lobby", Comment("doomed"));
    ASSERT_TRUE(first.ok());
    h.pub->SyncLive();
    ASSERT_GE(h.Metric("roomcast_publisher_live_push_errors_total"), 1);
    ASSERT_TRUE(Retract(h, first->seq()).ok());
    h.origin.SetLiveStatus(200);
    h.origin.SetLiveDown(false);
    ASSERT_TRUE(h.PostOne("lobby", Comment("later"), Viewer("v2")).ok());
    const size_t want = answered ? 1 : 3;  // later; or doomed, retract, later
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (Actions(h.origin.LiveRecords("lobby", 1000, kBucket)).size() < want &&
           std::chrono::steady_clock::now() < deadline) {
      h.pub->SyncLive();
    }
    const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
    ASSERT_EQ(Actions(live).size(), want);
    ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
    const v1::ActionSegment seg = Stored(h, "lobby");
    EXPECT_EQ(seg.retracted_size(), answered ? 1 : 0);
    EXPECT_EQ(StoredRecords(h, "lobby"), live);
  }
}

TEST(LivePusherTest, RestartPushesAgainFromZeroAndTheOverlapIsANoOp) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  h.pub->SyncLive();
  h.Restart();  // the bucket is still open: replayed from the log
  h.clock.Set(kT0 + 200);
  ASSERT_TRUE(h.PostOne("lobby", Comment("c")).ok());
  h.pub->SyncLive();
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  ASSERT_EQ(live.size(), 3u);
  EXPECT_EQ(h.origin.live_conflicts(), 0);
  // The first batch after the restart started from 0.
  bool from_zero_again = false;
  const std::vector<v1::LiveBatch> batches = h.origin.batches();
  for (size_t i = 1; i < batches.size(); ++i) {
    for (const v1::LiveAppend& a : batches[i].appends()) {
      from_zero_again = from_zero_again || (a.first() == 0 && a.records_size() >= 2);
    }
  }
  EXPECT_TRUE(from_zero_again);
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  EXPECT_EQ(StoredRecords(h, "lobby"), live);
}

TEST(LivePusherTest, SendsAgainFromHaveWhenTheOriginLacksRecords) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  h.pub->SyncLive();
  ASSERT_EQ(h.origin.LiveRecords("lobby", 1000, kBucket).size(), 2u);
  h.origin.ForgetLive();  // the origin restarted
  ASSERT_TRUE(h.PostOne("lobby", Comment("c")).ok());
  // The append from 2 gets have = 0; the next round sends from 0.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (h.origin.LiveRecords("lobby", 1000, kBucket).size() < 3 &&
         std::chrono::steady_clock::now() < deadline) {
    h.pub->SyncLive();
  }
  const std::vector<std::string> live = h.origin.LiveRecords("lobby", 1000, kBucket);
  ASSERT_EQ(live.size(), 3u);
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  EXPECT_EQ(StoredRecords(h, "lobby"), live);
}

TEST(LivePusherTest, ARefusedBucketIsNeverPushedAgainAndItsSegmentStillGoes) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  h.origin.SetRefuseLive(true);
  ASSERT_TRUE(h.PostOne("lobby", Comment("a")).ok());
  h.pub->SyncLive();
  const size_t batches = h.origin.batches().size();
  ASSERT_GE(batches, 1u);
  EXPECT_EQ(h.Metric("roomcast_publisher_live_refused_total"), 1);
  h.origin.SetRefuseLive(false);
  ASSERT_TRUE(h.PostOne("lobby", Comment("b")).ok());
  h.pub->SyncLive();
  h.pub->SyncLive();
  EXPECT_EQ(h.origin.batches().size(), batches);  // nothing more for that bucket
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  EXPECT_EQ(Stored(h, "lobby").messages_size(), 2);
}

TEST(LivePusherTest, PushErrorsNeverFailAnAckNorThePut) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.origin.SetLiveDown(true);
  h.clock.Set(kT0 + 100);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(h.PostOne("lobby", Comment(absl::StrCat("m", i))).ok());
  }
  h.pub->SyncLive();
  EXPECT_GE(h.Metric("roomcast_publisher_live_push_errors_total"), 1);
  EXPECT_EQ(h.Metric("roomcast_publisher_live_records_pushed_total"), 0);
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  EXPECT_EQ(Stored(h, "lobby").messages_size(), 5);
}

TEST(LivePusherTest, AThousandBusyRoomsShareOneBatchAtATimeFromOneThread) {
  Harness h;
  constexpr int kRooms = 1000;
  for (int i = 0; i < kRooms; ++i) ASSERT_TRUE(h.Open(absl::StrCat("r", i)).ok());
  h.clock.Set(kT0 + 100);
  h.origin.BlockLive(true);
  ASSERT_TRUE(h.PostOne("r0", Comment("first"), Viewer("v0", "*")).ok());
  ASSERT_TRUE(h.origin.WaitLiveStarted(1));  // the pusher is stuck in its POST
  // Acks do not wait for the push.
  for (int i = 1; i < kRooms; ++i) {
    ASSERT_TRUE(
        h.PostOne(absl::StrCat("r", i), Comment("hi"), Viewer(absl::StrCat("v", i), "*")).ok());
  }
  h.origin.BlockLive(false);
  h.pub->SyncLive();
  for (int i = 0; i < kRooms; ++i) {
    ASSERT_EQ(h.origin.LiveRecords(absl::StrCat("r", i), 1000, kBucket).size(), 1u) << i;
  }
  // The stuck batch, then one batch for the 999 rooms that became dirty.
  EXPECT_EQ(h.origin.batches().size(), 2u);
  EXPECT_EQ(h.origin.max_posts_in_flight(), 1);
  EXPECT_EQ(h.origin.post_threads(), 1u);
}

TEST(LivePusherTest, IdleRoomsAreNotVisited) {
  Harness h;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(h.Open(absl::StrCat("idle", i)).ok());
  ASSERT_TRUE(h.Open("lobby").ok());
  h.pub->SyncLive();
  const double visited = h.Metric("roomcast_publisher_live_rooms_visited_total");
  h.clock.Set(kT0 + 100);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(h.PostOne("lobby", Comment(absl::StrCat("m", i))).ok());
    h.pub->SyncLive();
  }
  EXPECT_EQ(h.Metric("roomcast_publisher_live_records_pushed_total"), 10);
  // Each post made one room dirty: at most one visit each, none of the idle.
  const double delta = h.Metric("roomcast_publisher_live_rooms_visited_total") - visited;
  EXPECT_GE(delta, 1);
  EXPECT_LE(delta, 10);
}

TEST(LivePusherTest, NoLiveSendsNoBatch) {
  PublisherOptions o;
  o.live = false;
  Harness h(o);
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  h.pub->SyncLive();
  ASSERT_TRUE(h.TickAt(kT0 + 1500).ok());
  EXPECT_EQ(Stored(h, "lobby").messages_size(), 2);
  EXPECT_TRUE(h.origin.batches().empty());
  EXPECT_EQ(h.Metric("roomcast_publisher_live_batches_total"), -1);  // no such series
}


// RoomLive on its own: the withheld rule and the re-derivation from `have`.
class RoomLiveTest : public ::testing::Test {
 protected:
  void Add(uint64_t seq, int64_t ts, std::string text) {
    v1::Message m;
    m.set_seq(seq);
    m.set_ts_ms(ts);
    m.set_sender(absl::StrCat("u", seq));
    m.mutable_comment()->set_text(std::move(text));
    messages_.push_back(std::move(m));
  }
  internal::LiveInput Input() {
    return {.open = {{kBucket, &messages_}}, .room = "lobby", .epoch = 7, .bucket_ms = 1000};
  }
  v1::LiveBatch Collect(int64_t now_ms = kT0 + 500) {
    v1::LiveBatch out;
    size_t budget = 1 << 20;
    bool more = false;
    sent_.clear();
    live_.Collect(Input(), now_ms, &budget, &more, &out, &sent_);
    return out;
  }
  std::vector<v1::Message> messages_;
  internal::RoomLive live_;
  std::vector<internal::LiveSent> sent_;
};

TEST_F(RoomLiveTest, AWithheldMessageStopsItsBucketUntilReleased) {
  Add(1, kT0 + 10, "one");
  Add(2, kT0 + 20, "two");
  Add(3, kT0 + 30, "three");
  live_.Withhold(2);
  v1::LiveBatch b = Collect();
  ASSERT_EQ(b.appends_size(), 1);
  ASSERT_EQ(b.appends(0).records_size(), 1);  // 1 only: 2 is withheld, 3 waits behind it
  EXPECT_TRUE(live_.Pushed(kBucket, 1));
  EXPECT_FALSE(live_.Pushed(kBucket, 2));
  EXPECT_FALSE(live_.Pushed(kBucket, 3));
  v1::LiveAck ack;
  ack.set_have(1);
  EXPECT_FALSE(live_.Acked(sent_[0], ack));

  messages_[1].clear_comment();  // the retraction is durable: a tombstone
  live_.Release(2);
  b = Collect();
  ASSERT_EQ(b.appends_size(), 1);
  EXPECT_EQ(b.appends(0).first(), 1u);
  ASSERT_EQ(b.appends(0).records_size(), 1);
  EXPECT_EQ(b.appends(0).records(0), segmenter::EncodeRecord(messages_[2]));
}

TEST_F(RoomLiveTest, ASmallerHaveSendsTheSameRecordsAgainFromIt) {
  Add(1, kT0 + 10, "one");
  Add(2, kT0 + 20, "two");
  Add(3, kT0 + 30, "three");
  const v1::LiveBatch first = Collect();
  ASSERT_EQ(first.appends(0).records_size(), 3);
  v1::LiveAck ack;
  ack.set_have(1);  // the origin holds only the first
  EXPECT_TRUE(live_.Acked(sent_[0], ack));  // it lacks records it was sent
  Add(4, kT0 + 40, "four");
  const v1::LiveBatch again = Collect();
  ASSERT_EQ(again.appends_size(), 1);
  EXPECT_EQ(again.appends(0).first(), 1u);
  ASSERT_EQ(again.appends(0).records_size(), 3);
  EXPECT_EQ(again.appends(0).records(0), first.appends(0).records(1));
  EXPECT_EQ(again.appends(0).records(1), first.appends(0).records(2));
  EXPECT_EQ(again.appends(0).records(2), segmenter::EncodeRecord(messages_[3]));
}

TEST_F(RoomLiveTest, ARefusedBucketIsNeverCollectedAgain) {
  Add(1, kT0 + 10, "one");
  ASSERT_EQ(Collect().appends_size(), 1);
  v1::LiveAck ack;
  ack.set_refused(true);
  EXPECT_FALSE(live_.Acked(sent_[0], ack));
  Add(2, kT0 + 20, "two");
  EXPECT_EQ(Collect().appends_size(), 0);
}

}  // namespace
}  // namespace roomcast::publisher
