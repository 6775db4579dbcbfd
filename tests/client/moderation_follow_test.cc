// The client honours moderation (DESIGN §11) against a real roomcast-origin
// fed by a synthetic publisher (D = 250 ms): a seq the room's `redactions`
// lists is never delivered, nor the `retract` record of a message never
// delivered, nor a takedown's stub.
#include <gtest/gtest.h>

#include "client/client.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "tests/client/recorder.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using client::FollowMode;
using Clock = std::chrono::steady_clock;

google::protobuf::Value Redactions(const std::vector<uint64_t>& seqs) {
  google::protobuf::Value v;
  auto* list = (*v.mutable_struct_value()->mutable_fields())["seqs"].mutable_list_value();
  for (uint64_t seq : seqs) list->add_values()->set_number_value(static_cast<double>(seq));
  return v;
}

class ModerationFollowTest : public OriginTest {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    if (HasFatalFailure()) return;
    pub_ = std::make_unique<SyntheticPublisher>(*origin_, SyntheticPublisher::Options{});
    pub_->Start();
  }
  void TearDown() override {
    if (pub_) {
      pub_->Stop();
      EXPECT_EQ(pub_->upload_failures(), 0);
    }
  }
  std::unique_ptr<SyntheticPublisher> pub_;
};

// The retraction reaches the manifest before the segment holding the
// message does: a manifest-hold follower reads the `redactions` the
// manifest lists before it delivers from a segment that manifest names, so
// the message is never delivered, and neither is its `retract` record.
TEST_F(ModerationFollowTest, ASeqInRedactionsAndAStubAreNeverDelivered) {
  Client c({.base_url = origin_->url()});
  Recorder rec;
  std::vector<v1::Message> retracts;
  client::Callbacks cb = rec.Callbacks();
  cb.on_retract = [&](const v1::Message& m) { retracts.push_back(m); };
  c.Follow({.room = "lobby", .mode = FollowMode::kManifestHold}, std::move(cb));
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));

  const v1::Message before = pub_->Post("before");
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() == before.seq(); }, Clock::now() + 5s));
  // Retracted while its bucket is still open: the component first, then
  // the message's bucket closes, then the record lands in a later one.
  const v1::Message gone = pub_->Post("retracted");
  ASSERT_GT(pub_->SetStateValue("redactions", Redactions({gone.seq()})), 0u);
  const v1::Message stub = pub_->Stub();
  pub_->Retract(gone.seq());
  const v1::Message after = pub_->Post("after");
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() == after.seq(); }, Clock::now() + 8s))
      << "delivered up to " << rec.LastSeq();
  c.RunUntil([] { return false; }, Clock::now() + 600ms);  // anything more would show now

  EXPECT_EQ(rec.Seqs(), (std::vector<uint64_t>{before.seq(), after.seq()}));
  EXPECT_TRUE(retracts.empty()) << retracts.front().DebugString();
  bool saw_redactions = false;
  for (const v1::StateComponent& s : rec.states) saw_redactions |= s.name() == "redactions";
  EXPECT_TRUE(saw_redactions);
  EXPECT_GT(stub.seq(), gone.seq());
  EXPECT_TRUE(rec.gaps.empty());
}

// The retraction of a seq the follower delivered reaches on_retract; that
// of one from before its join (never delivered) is not passed on at all.
TEST_F(ModerationFollowTest, ARetractRecordNamesOnlyWhatWasDelivered) {
  const v1::Message old = pub_->Post("old");
  ASSERT_TRUE(pub_->WaitPublished());
  Client c({.base_url = origin_->url()});
  Recorder rec;
  std::vector<v1::Message> retracts;
  client::Callbacks cb = rec.Callbacks();
  cb.on_retract = [&](const v1::Message& m) { retracts.push_back(m); };
  c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold}, std::move(cb));
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  const v1::Message shown = pub_->Post("shown");
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() == shown.seq(); }, Clock::now() + 5s));
  v1::Message record = pub_->Retract(shown.seq());
  pub_->Retract(old.seq());  // never delivered: nothing to say
  const v1::Message after = pub_->Post("after");
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() == after.seq(); }, Clock::now() + 5s));
  c.RunUntil([] { return false; }, Clock::now() + 600ms);

  EXPECT_EQ(rec.Seqs(), (std::vector<uint64_t>{shown.seq(), after.seq()}));
  ASSERT_EQ(retracts.size(), 1u);
  EXPECT_EQ(retracts[0].seq(), record.seq());
  EXPECT_EQ(std::vector<uint64_t>(retracts[0].retract().seqs().begin(),
                                  retracts[0].retract().seqs().end()),
            std::vector<uint64_t>{shown.seq()});
}

// A hand-made room whose manifest lists a `redactions` version the origin
// does not serve yet (as through a cache that has the new manifest and not
// yet the component): a bucket-hold follower holds the segment it is
// served until it has read that version, so the seq it lists is never
// delivered.
class HandMadeModerationTest : public OriginTest {
 protected:
  static constexpr int64_t kD = 250;
  static constexpr char kRoom[] = "handmade";

  // Segment `k` holding one comment per (seq, ts_ms), then the watermark
  // past its end (a segment must be there before its bucket closes).
  void Publish(int64_t k, const std::vector<std::pair<uint64_t, int64_t>>& msgs) {
    v1::ActionSegment s = MakeSegment(kRoom, kD, k, static_cast<int>(msgs.size()),
                                      msgs.front().first);
    for (int i = 0; i < s.messages_size(); ++i) s.mutable_messages(i)->set_ts_ms(msgs[i].second);
    ASSERT_EQ(origin_->PutObject(segmenter::SegmentPath(kRoom, kD, k),
                                 segmenter::Encode(s).bytes).status, 201);
    while (WallMs() < segmenter::BucketEnd(k, kD)) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(origin_->PutWatermark(segmenter::BucketEnd(k, kD)).status, 200);
  }
  double SegmentsServed() const {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"200\"");
  }
};

TEST_F(HandMadeModerationTest, ASegmentWaitsForTheRedactionsItsManifestLists) {
  const int64_t now = WallMs();
  v1::Manifest m = MakeManifest(kRoom, 1, now - 60'000, kD);
  m.set_state_version(1);
  v1::ComponentVersion* listed = m.add_components();
  listed->set_name("redactions");
  listed->set_version(1);
  ASSERT_EQ(origin_->PutManifest(m).status, 200);
  ASSERT_EQ(origin_->PutWatermark(now).status, 200);

  Client c({.base_url = origin_->url()});
  Recorder rec;
  std::vector<v1::Message> retracts;
  client::Callbacks cb = rec.Callbacks();
  cb.on_retract = [&](const v1::Message& r) { retracts.push_back(r); };
  c.Follow({.room = kRoom, .mode = FollowMode::kBucketHold}, std::move(cb));
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  const client::JoinInfo join = rec.joins[0];

  // Seq 1 (retracted) and seq 2 in the bucket joined, after the join.
  const double served = SegmentsServed();
  std::thread publish([&] { Publish(join.first_bucket, {{1, join.join_ms}, {2, join.join_ms}}); });
  const bool fetched = c.RunUntil([&] { return SegmentsServed() > served; }, Clock::now() + 5s);
  publish.join();
  ASSERT_TRUE(fetched);
  c.RunUntil([] { return false; }, Clock::now() + 100ms);
  EXPECT_TRUE(rec.actions.empty()) << "delivered before the redactions were read";

  v1::StateComponent red;
  red.set_room(kRoom);
  red.set_epoch(1);
  red.set_name("redactions");
  red.set_version(1);
  red.set_total_version(1);
  *red.mutable_value() = Redactions({1});
  ASSERT_EQ(origin_->PutObject(segmenter::StatePath(kRoom, "redactions", 1),
                               red.SerializeAsString()).status, 201);
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() == 2; }, Clock::now() + 5s))
      << "delivered up to " << rec.LastSeq();
  EXPECT_EQ(rec.Seqs(), std::vector<uint64_t>{2});
  EXPECT_TRUE(retracts.empty());
}

}  // namespace
}  // namespace roomcast::testing
