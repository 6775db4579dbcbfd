// The client honours moderation (DESIGN §11) against a real roomcast-origin
// fed by a synthetic publisher (D = 250 ms): a seq the room's `redactions`
// lists is never delivered, nor the `retract` record of a message never
// delivered, nor a takedown's stub.
#include <gtest/gtest.h>

#include "client/client.h"
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

}  // namespace
}  // namespace roomcast::testing
