// cluster::JetStream (cluster/jetstream.h) against a real 3-node JetStream
// cluster on loopback (tests/support/nats_cluster.h): what cluster mode
// (DESIGN §13) stands on. An acked publish survives a kill -9 of the
// stream's leader; a publish during the election is kUnavailable, never a
// silent loss; chaining Nats-Expected-Last-Msg-Id fences an old writer.
#include "cluster/jetstream.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "cluster/bus.h"
#include "gtest/gtest.h"
#include "tests/support/nats_cluster.h"

namespace roomcast::cluster {
namespace {

using namespace std::chrono_literals;
using testing::NatsCluster;
using testing::WhileUnavailable;

absl::StatusOr<bool> Ensure(JetStream& js, const StreamConfig& c) {
  absl::Status s = js.EnsureStream(c);
  if (!s.ok()) return s;
  return true;
}

class JetStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(nats_.ready()) << "the 3-node cluster did not elect a meta leader";
    auto js = JetStream::Connect({.urls = nats_.urls(), .timeout = 2000ms});
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
    auto made = WhileUnavailable([&] { return Ensure(*js_, {.name = "LOG", .subjects = {"log.>"}}); });
    ASSERT_TRUE(made.ok()) << made.status();
  }

  // Publishes `id` fenced on `prev` (as a shard owner chains its batches),
  // retrying with the same id while the cluster is unavailable: a retry of
  // a publish whose ack was lost is a duplicate, not a second message.
  absl::StatusOr<Acked> Append(const std::string& id, const std::string& prev) {
    return WhileUnavailable([&] {
      return js_->Publish("log.0", "batch " + id, {.msg_id = id, .expected_last_msg_id = prev});
    });
  }

  NatsCluster nats_;
  std::unique_ptr<JetStream> js_;
};

TEST_F(JetStreamTest, AckedPublishesSurviveAKillNineOfTheStreamLeader) {
  // Batches b<from>..b<to>, each chained on the one before.
  std::vector<std::string> acked;
  auto append = [&](int from, int to) {
    for (int i = from; i <= to; ++i) {
      const std::string id = absl::StrCat("b", i);
      absl::StatusOr<Acked> a = Append(id, acked.empty() ? "" : acked.back());
      ASSERT_TRUE(a.ok()) << id << ": " << a.status();
      acked.push_back(id);
    }
  };
  append(1, 50);
  ASSERT_FALSE(HasFatalFailure());
  absl::StatusOr<StreamState> before = js_->State("LOG");
  ASSERT_TRUE(before.ok()) << before.status();
  const int leader = nats_.IndexOf(before->leader);
  ASSERT_GE(leader, 0) << "leader '" << before->leader << "'";
  nats_.Kill(leader);

  // Writes go on through the election, each answered or kUnavailable.
  append(51, 100);
  ASSERT_FALSE(HasFatalFailure());
  absl::StatusOr<StreamState> after = js_->State("LOG");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->leader, before->leader);
  ASSERT_TRUE(nats_.Restart(leader));

  // Every acked batch once, in order: sequence i holds batch i.
  EXPECT_EQ(after->messages, acked.size());
  for (size_t i = 0; i < acked.size(); ++i) {
    absl::StatusOr<StoredMessage> m =
        WhileUnavailable([&] { return js_->Get("LOG", static_cast<uint64_t>(i + 1)); });
    ASSERT_TRUE(m.ok()) << i + 1 << ": " << m.status();
    EXPECT_EQ(m->data, "batch " + acked[i]);
    EXPECT_EQ(m->headers["Nats-Msg-Id"], acked[i]);
  }
}

// DESIGN §13: a paused old owner can never append after a new one took
// over, because each batch names the previous batch's id.
TEST_F(JetStreamTest, ChainingTheLastMsgIdFencesAnOldWriter) {
  ASSERT_TRUE(Append("old-1", "").ok());
  ASSERT_TRUE(Append("old-2", "old-1").ok());
  // The new owner reads where the log stands and chains on it.
  absl::StatusOr<StoredMessage> last = js_->GetLast("LOG", "log.0");
  ASSERT_TRUE(last.ok()) << last.status();
  const std::string tip = last->headers["Nats-Msg-Id"];
  ASSERT_EQ(tip, "old-2");
  ASSERT_TRUE(Append("new-1", tip).ok());
  // The old owner, unaware, appends on what it last wrote: refused.
  absl::StatusOr<Acked> stale = js_->Publish("log.0", "batch old-3",
                                             {.msg_id = "old-3", .expected_last_msg_id = "old-2"});
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status())) << stale.status();
  // A fence on the sequence says the same.
  absl::StatusOr<Acked> by_seq = js_->Publish(
      "log.0", "batch old-4", {.msg_id = "old-4", .expected_last_seq = last->seq});
  EXPECT_TRUE(absl::IsFailedPrecondition(by_seq.status())) << by_seq.status();

  absl::StatusOr<StreamState> st = js_->State("LOG");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->messages, 3u);
  // The same id again is a duplicate, stored once.
  absl::StatusOr<Acked> again = js_->Publish("log.0", "batch new-1", {.msg_id = "new-1"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(js_->State("LOG")->messages, 3u);
}

TEST_F(JetStreamTest, MissingThingsAreNotFound) {
  EXPECT_TRUE(absl::IsNotFound(js_->Get("LOG", 999).status())) << js_->Get("LOG", 999).status();
  EXPECT_TRUE(absl::IsNotFound(js_->State("NO_SUCH").status()));
  EXPECT_TRUE(absl::IsNotFound(js_->GetLast("LOG", "log.nothing").status()));
}

// The crash this guards against: an origin stopped while its NATS nodes
// stopped too had its notice callback still blocked in a read when the
// subscription's end (a drain waited 5 s) returned, then freed what the
// callback went on to use. The end of a subscription must come after the
// callback's last return, however long that takes and whatever the servers do.
TEST_F(JetStreamTest, ASubscriptionEndsOnlyAfterItsCallbackReturnedWithItsServersGone) {
  Bus bus(*js_);
  absl::Notification entered;
  std::atomic<bool> returned{false};
  auto sub = bus.Subscribe("note.1", [&](const BusMessage&) {
    if (entered.HasBeenNotified()) return;
    entered.Notify();
    // Longer than the drain the subscription's end allows (5 s).
    std::this_thread::sleep_for(6500ms);
    returned = true;
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE(bus.Publish("note.1", "x").ok());
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (int i = 0; i < nats_.size(); ++i) nats_.Kill(i);
  sub->reset();
  EXPECT_TRUE(returned.load()) << "the subscription ended while its callback still ran";
}

TEST(JetStreamConnectTest, NoServerIsUnavailableAndNoUrlInvalid) {
  EXPECT_EQ(JetStream::Connect({}).status().code(), absl::StatusCode::kInvalidArgument);
  // Port 1 on loopback: nothing listens there, and nothing may.
  auto js = JetStream::Connect({.urls = {"nats://127.0.0.1:1"}, .timeout = 500ms});
  EXPECT_TRUE(absl::IsUnavailable(js.status())) << js.status();
}

}  // namespace
}  // namespace roomcast::cluster
