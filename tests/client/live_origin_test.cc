// The follower and `roomcast tail` against a real roomcast-origin that
// streams open buckets (DESIGN §10), the test pushing records as a
// publisher would (POST /v1/live) and closing the bucket with its PUT: each
// record is delivered before the bucket's close (the PUT comes only after
// the delivery), and a kill -9 of the origin mid-bucket, with the records
// pushed again from the start, delivers every message once, in order.
#include <signal.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "roomcast/v1/live.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "segmenter/segment.h"
#include "tests/client/recorder.h"
#include "tests/origin/origin_fixture.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "live";
// Long buckets: the test closes them (PUT) when it is done, never the clock.
constexpr int64_t kD = 10000;

class LiveOriginTest : public OriginTest {
 protected:
  void SetUp() override {
    StartOrigin({"--max-hold-ms", "30000"});
    ASSERT_EQ(origin_->PutManifest(MakeManifest(kRoom, 1, WallMs() - 60'000, kD)).status, 200);
    ASSERT_EQ(origin_->PutWatermark(WallMs() - 20'000).status, 200);
    // Not in a bucket's last seconds: the follower joins this one.
    if (segmenter::BucketEnd(segmenter::BucketIndex(WallMs(), kD), kD) - WallMs() < 3000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3100));
    }
    k_ = segmenter::BucketIndex(WallMs(), kD);
  }
  // Seqs 1..4 of bucket k, stamped now: after the follower's join.
  void MakeBucket() {
    std::vector<v1::Message> msgs;
    for (int i = 0; i < 4; ++i) {
      v1::Message m;
      m.set_seq(static_cast<uint64_t>(i + 1));
      m.set_ts_ms(WallMs());
      m.set_kind(v1::KIND_ACTION);
      m.set_sender("viewer");
      m.set_role(v1::ROLE_AUDIENCE);
      m.mutable_comment()->set_text(absl::StrCat("live ", i));
      msgs.push_back(std::move(m));
    }
    segment_ = segmenter::BuildSegment({.room = kRoom, .epoch = 1, .bucket_ms = kD, .index = k_},
                                       std::move(msgs));
    for (const v1::Message& m : segment_.messages()) {
      records_.push_back(segmenter::EncodeRecord(m));
    }
  }
  // Pushes records [first, last) of the bucket; the ack's `have`.
  uint32_t Push(uint32_t first, uint32_t last) {
    v1::LiveBatch batch;
    v1::LiveAppend* a = batch.add_appends();
    a->set_room(kRoom);
    a->set_epoch(1);
    a->set_bucket_ms(kD);
    a->set_index(k_);
    a->set_first(first);
    for (uint32_t i = first; i < last; ++i) a->add_records(records_[i]);
    HttpResponse r = Fetch("POST", origin_->url() + "/v1/live", batch.SerializeAsString(),
                           {absl::StrCat("Authorization: Bearer ", kWriteSecret),
                            "Content-Type: application/x-protobuf"});
    v1::LiveReply reply;
    EXPECT_EQ(r.status, 200) << r.body;
    if (!reply.ParseFromString(r.body) || reply.acks_size() != 1) return 0;
    EXPECT_FALSE(reply.acks(0).refused()) << reply.acks(0).reason();
    return reply.acks(0).have();
  }
  // The bucket's segment is stored: its streams end with the summary (the
  // watermark cannot pass a bucket that has not ended yet).
  void Close() {
    ASSERT_EQ(origin_->PutObject(segmenter::SegmentPath(kRoom, kD, k_),
                                 segmenter::EncodeSegment(segment_))
                  .status,
              201);
  }
  bool WaitForStreams(double n) {
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (origin_->Metric("roomcast_origin_live_streams") >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  int64_t k_ = 0;
  v1::ActionSegment segment_;
  std::vector<std::string> records_;
};

TEST_F(LiveOriginTest, EachPushedRecordIsDeliveredBeforeItsBucketClosesAndOnceAfterAKill) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold}, rec.Callbacks());
  auto run_until = [&](const std::function<bool()>& done) {
    return c.RunUntil(done, Clock::now() + 8s);
  };
  ASSERT_TRUE(run_until([&] { return c.Stats(id).bucket_requests >= 1; }));
  MakeBucket();
  ASSERT_EQ(Push(0, 2), 2u);
  // Delivered while the bucket is open: nothing closed it yet.
  ASSERT_TRUE(run_until([&] { return rec.actions.size() >= 2; }));
  ASSERT_EQ(Push(2, 3), 3u);
  ASSERT_TRUE(run_until([&] { return rec.actions.size() >= 3; }));
  EXPECT_EQ(c.Stats(id).live_actions, 3u);

  // kill -9: the stream ends without its last chunk, the open bucket is
  // lost; the publisher pushes again from 0 (its ack says have = 0).
  const std::string listen = origin_->url().substr(std::string("http://").size());
  origin_->Stop(SIGKILL);
  ASSERT_TRUE(run_until([&] { return c.Stats(id).errors >= 1; }));
  ASSERT_TRUE(origin_->Start(listen)) << "roomcast-origin did not restart";
  EXPECT_EQ(Push(3, 4), 0u);
  EXPECT_EQ(Push(0, 4), 4u);
  ASSERT_TRUE(run_until([&] { return rec.actions.size() >= 4; }));
  EXPECT_EQ(c.Stats(id).live_actions, 4u);  // before the close, too
  Close();
  // The closed bucket's summary ends the stream; nothing comes twice.
  c.RunUntil([] { return false; }, Clock::now() + 1000ms);
  EXPECT_EQ(rec.Seqs(), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(LiveOriginTest, TailPrintsAPushedMessageBeforeItsBucketCloses) {
  auto tail = std::async(std::launch::async, [&] {
    return Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--json", "--count", "2",
                "--mode", "bucket", "--duration-ms", "15000"},
               {}, 20s);
  });
  // tail has joined once its bucket's stream is open.
  ASSERT_TRUE(WaitForStreams(1));
  MakeBucket();
  ASSERT_EQ(Push(0, 2), 2u);
  RunResult r = tail.get();  // it exits once it printed both
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<v1::Message> got = JsonMessages(r.out);
  ASSERT_EQ(got.size(), 2u) << r.out;
  EXPECT_EQ(got[0].seq(), 1u);
  EXPECT_EQ(got[1].seq(), 2u);
  Close();  // only now: both were printed from the open bucket's stream
}

}  // namespace
}  // namespace roomcast::testing
