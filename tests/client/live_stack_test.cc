// Live segments end to end (DESIGN §10): a real roomcast-publisher pushing
// open buckets to a real roomcast-origin, which streams them. A follower and
// `roomcast tail` get each message before its bucket closes (asserted by the
// order of events: the origin's watermark has not passed the message's
// bucket when it is delivered), and a stream cut by a kill -9 of the origin
// is asked again: every message exactly once, in seq order.
#include <signal.h>

#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "segmenter/bucketer.h"
#include "tests/client/recorder.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "live";
// Long buckets: a message posted early in one has most of it to arrive
// before the bucket closes, on a loaded machine too.
constexpr int64_t kD = 2000;

class LiveStackTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, absl::StrCat(R"({"bucket_ms": )", kD, "}"));
  }
  Ack Post(const std::string& text) { return PostComment(kRoom, text); }
  // Runs `c` until a bucket has just begun (its first tenth is over), so
  // what is posted next has most of the bucket ahead of it.
  static void IdleToBucketStart(client::Client& c) {
    const int64_t into = WallMs() % kD;
    c.RunUntil([] { return false; },
               Clock::now() + std::chrono::milliseconds(kD - into + kD / 10));
  }
  static int64_t EndOf(const v1::Message& m) {
    return segmenter::BucketEnd(segmenter::BucketIndex(m.ts_ms(), kD), kD);
  }
};

std::vector<uint64_t> SeqsOf(const std::vector<Ack>& acks) {
  std::vector<uint64_t> out;
  for (const Ack& a : acks) out.push_back(a.seq);
  return out;
}

TEST_F(LiveStackTest, AFollowerGetsEachMessageBeforeItsBucketCloses) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  client::Callbacks cb = rec.Callbacks();
  // At each delivery: how far the origin's watermark (the close) had got.
  std::vector<std::pair<int64_t, int64_t>> watermark_and_end;
  cb.on_action = [&, inner = cb.on_action](const v1::Message& m) {
    watermark_and_end.emplace_back(OriginWatermarkMs(), EndOf(m));
    inner(m);
  };
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold}, cb);
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  std::vector<Ack> acks;
  for (int round = 0; round < 2; ++round) {
    IdleToBucketStart(c);
    acks.push_back(Post(absl::StrCat("first of round ", round)));
    acks.push_back(Post(absl::StrCat("second of round ", round)));
  }
  ASSERT_TRUE(c.RunUntil([&] { return rec.actions.size() >= acks.size(); }, Clock::now() + 10s))
      << "delivered " << rec.actions.size();
  c.RunUntil([] { return false; }, Clock::now() + 500ms);  // anything repeated shows now
  EXPECT_EQ(rec.Seqs(), SeqsOf(acks));
  ASSERT_EQ(watermark_and_end.size(), acks.size());
  for (const auto& [watermark, end] : watermark_and_end) {
    EXPECT_LT(watermark, end) << "delivered only once its bucket had closed";
  }
  EXPECT_EQ(c.Stats(id).live_actions, acks.size());
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(LiveStackTest, TailPrintsAMessageBeforeItsBucketCloses) {
  // Started and joined (its first bucket asked for) before the post.
  auto tail = std::async(std::launch::async, [&] {
    return Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--json", "--count", "1",
                "--mode", "bucket", "--duration-ms", "15000"},
               {}, 20s);
  });
  client::Client c({.base_url = origin_->url()});
  IdleToBucketStart(c);  // tail has joined by now (it joins within ~D)
  const Ack ack = Post("printed live");
  RunResult r = tail.get();
  // tail exits as soon as it printed its one message: the bucket is open.
  const int64_t watermark = OriginWatermarkMs();
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<v1::Message> got = JsonMessages(r.out);
  ASSERT_EQ(got.size(), 1u) << r.out;
  EXPECT_EQ(got[0].seq(), ack.seq);
  EXPECT_LT(watermark, EndOf(got[0])) << "printed only once its bucket had closed";
}

TEST_F(LiveStackTest, AStreamCutByAKilledOriginDeliversEveryMessageOnceInOrder) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold},
                     rec.Callbacks());
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  IdleToBucketStart(c);
  std::vector<Ack> acks = {Post("before the kill 1"), Post("before the kill 2")};
  ASSERT_TRUE(c.RunUntil([&] { return rec.actions.size() >= 2; }, Clock::now() + 5s));

  // kill -9 mid-bucket: the stream ends without its summary.
  const std::string listen = origin_->url().substr(std::string("http://").size());
  origin_->Stop(SIGKILL);
  acks.push_back(Post("while the origin is down"));
  c.RunUntil([] { return false; }, Clock::now() + 300ms);  // the client sees the cut
  ASSERT_TRUE(origin_->Start(listen)) << "roomcast-origin did not restart";
  acks.push_back(Post("after the restart 1"));
  acks.push_back(Post("after the restart 2"));

  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() >= acks.back().seq; }, Clock::now() + 20s))
      << "delivered up to seq " << rec.LastSeq();
  c.RunUntil([] { return false; }, Clock::now() + 500ms);
  EXPECT_EQ(rec.Seqs(), SeqsOf(acks));
  EXPECT_TRUE(rec.gaps.empty());
  EXPECT_GE(c.Stats(id).errors, 1u);  // the cut was seen, and retried
}

}  // namespace
}  // namespace roomcast::testing
