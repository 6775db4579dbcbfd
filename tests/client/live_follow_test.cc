// The follower against a streaming server whose every byte the test sends
// (tests/client/stream_server.h, DESIGN §10): each action is delivered as
// its record arrives, before its bucket's end; the next bucket is asked for
// before the current one is complete; a stream cut short is asked again and
// nothing is delivered twice; across two open streams the order is seq
// order, whichever stream's bytes come first.
#include <gtest/gtest.h>

#include <thread>

#include "absl/time/clock.h"
#include "client/client.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/live.h"
#include "tests/client/recorder.h"
#include "tests/client/stream_server.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kD = 1000;
// Long buckets, for a server that holds closed buckets only (3 s at most).
constexpr int64_t kLongD = 3000;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string Manifest(int64_t d) {
  v1::Manifest m;
  m.set_room("lobby");
  m.set_epoch(1);
  m.set_version(1);
  m.set_server_time_ms(NowMs());
  m.mutable_config()->set_bucket_ms(static_cast<uint32_t>(d));
  m.set_status(v1::ROOM_STATUS_LIVE);
  m.mutable_follow()->set_mode(v1::FOLLOW_MODE_BUCKET_HOLD);
  m.set_opened_ms(NowMs() - 60000);
  m.set_watermark_ms(NowMs() - d);
  return m.SerializeAsString();
}

// One record as the streamed layout has it (segmenter/live.h): field 7.
std::string Record(uint64_t seq) {
  v1::Message m;
  m.set_seq(seq);
  m.set_ts_ms(NowMs());
  m.set_sender("u");
  m.mutable_comment()->set_text("comment " + std::to_string(seq));
  return segmenter::EncodeRecord(m);
}

// The summary a bucket's stream ends with.
std::string Summary(int64_t k, uint64_t first, uint64_t last, uint64_t dropped = 0,
                    int64_t d = kD) {
  v1::ActionSegment s;
  s.set_room("lobby");
  s.set_epoch(1);
  s.set_bucket_ms(static_cast<uint32_t>(d));
  s.set_index(k);
  s.set_first_seq(first);
  s.set_last_seq(last);
  if (dropped > 0) (*s.mutable_dropped())["comment"] = dropped;
  return segmenter::EncodeSummary(s);
}

class LiveFollowTest : public ::testing::Test {
 protected:
  explicit LiveFollowTest(int64_t d = kD)
      : server_([d] { return Manifest(d); }), client_({.base_url = server_.url()}) {}
  void Follow() {
    id_ = client_.Follow({.room = "lobby", .mode = client::FollowMode::kBucketHold},
                         rec_.Callbacks());
  }
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    return client_.RunUntil(done, Clock::now() + limit);
  }
  bool RunUntilActions(size_t n) {
    return RunUntil([&] { return rec_.actions.size() >= n; });
  }
  // Follows; the bucket the follower started with.
  int64_t FirstBucket() {
    Follow();
    EXPECT_TRUE(RunUntil([&] { return server_.FirstBucket() >= 0; }));
    return server_.FirstBucket();
  }

  StreamServer server_;
  Recorder rec_;
  client::Client client_;
  client::Client::FollowerId id_ = 0;
};

TEST_F(LiveFollowTest, EachRecordIsDeliveredAsItArrivesAndACutStreamRepeatsNothing) {
  const int64_t k = FirstBucket();
  ASSERT_GE(k, 0);
  server_.Send(k, Record(1));
  // Delivered while the bucket's stream has not ended (its summary is not
  // even written yet).
  ASSERT_TRUE(RunUntilActions(1));
  EXPECT_EQ(client_.Stats(id_).live_actions, 1u);
  server_.Send(k, Record(2));
  ASSERT_TRUE(RunUntilActions(2));

  // The stream ends without its summary: asked again, it starts over from
  // record 1, and only what is new is delivered.
  server_.Cut(k);
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k) >= 2; }));
  server_.Send(k, Record(3));
  ASSERT_TRUE(RunUntilActions(3));
  EXPECT_EQ(rec_.Seqs(), (std::vector<uint64_t>{1, 2, 3}));

  // Bucket k+1 is asked for before k is complete (k's summary is never
  // sent before that request).
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k + 1) >= 1; }));
  // Its record 5 arrives before k's record 4: held until k accounts for 4.
  server_.Send(k + 1, Record(5));
  RunUntil([] { return false; }, 200ms);  // let record 5 be read first
  server_.Send(k, Record(4));
  server_.End(k, Summary(k, 1, 4));
  ASSERT_TRUE(RunUntilActions(5));
  EXPECT_EQ(rec_.Seqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(client_.Stats(id_).live_actions, 5u);  // none waited for k+1's end

  // k+1 ends having dropped seq 6; k+2's record 7 follows on from it.
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k + 2) >= 1; }));
  server_.Send(k + 2, Record(7));
  server_.End(k + 1, Summary(k + 1, 5, 6, /*dropped=*/1));
  ASSERT_TRUE(RunUntilActions(6));
  RunUntil([] { return false; }, 300ms);  // anything repeated would show now
  EXPECT_EQ(rec_.Seqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 7}));
  EXPECT_TRUE(rec_.gaps.empty());
  // One request per bucket, plus the one after the cut.
  EXPECT_EQ(server_.Requests(k), 2);
  EXPECT_EQ(server_.Requests(k + 1), 1);
}

TEST_F(LiveFollowTest, AStreamOfGarbageIsAskedAgainWithoutDeliveringAnything) {
  const int64_t k = FirstBucket();
  ASSERT_GE(k, 0);
  server_.Send(k, std::string("\x38\x01", 2));  // field 7 as a varint
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k) >= 2; }));
  EXPECT_FALSE(rec_.errors.empty());
  EXPECT_TRUE(rec_.actions.empty());
}

// A server that holds closed buckets only (no streams) answers a GET asked
// more than its hold limit before the bucket's end "not yet". The follower
// then asks each bucket when such a server holds it (hold_lead before its
// end), not live_lead before it starts, and asks no bucket ahead.
class HoldOnlyFollowTest : public LiveFollowTest {
 protected:
  HoldOnlyFollowTest() : LiveFollowTest(kLongD) {
    server_.SetNotYet([](int64_t k) { return NowMs() < (k + 1) * kLongD - 2050; });
  }
};

TEST_F(HoldOnlyFollowTest, AnEarlyNotYetMakesTheFollowerAskAsBefore) {
  // Join early in a bucket, so the first GET (at once: live_lead before its
  // start has passed) is more than the hold limit before its end.
  std::this_thread::sleep_for(std::chrono::milliseconds(kLongD - NowMs() % kLongD + 50));
  const int64_t k = FirstBucket();
  ASSERT_GE(k, 0);
  // Closed at its end (no sooner: a segment served closed tells the client
  // the server's clock passed its end).
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k) >= 2; }, 5s));
  RunUntil([&] { return NowMs() >= (k + 1) * kLongD + 20; }, 5s);
  server_.End(k, Summary(k, 0, 0, 0, kLongD));
  // Until half a second into k+1: past the time k+1 would have been asked
  // ahead of k's end, before a hold-only server would hold it.
  RunUntil([&] { return NowMs() >= (k + 1) * kLongD + 500; }, 8s);
  // It was not; k was asked twice, "not yet" then held.
  EXPECT_EQ(server_.Requests(k), 2);
  EXPECT_EQ(server_.Requests(k + 1), 0);
  // k+1 is asked when a hold-only server holds it, once.
  ASSERT_TRUE(RunUntil([&] { return server_.Requests(k + 1) >= 1; }, 5s));
  server_.Send(k + 1, Record(1));
  ASSERT_TRUE(RunUntilActions(1));
  EXPECT_EQ(rec_.Seqs(), std::vector<uint64_t>{1});
  EXPECT_EQ(server_.Requests(k + 1), 1);
}

}  // namespace
}  // namespace roomcast::testing
