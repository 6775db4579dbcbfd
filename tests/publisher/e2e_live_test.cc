// Live push with real processes (DESIGN §10): a real roomcast-publisher and
// a real roomcast-origin; with --no-live the publisher sends no live batch
// and publishes exactly as before.
#include <signal.h>

#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

constexpr int64_t kBucketMs = 6000;

class PublisherE2eLiveTest : public PublisherE2eTest {
 protected:
  // Polls the publisher's metric until it reaches `at_least` (10 s at most).
  bool WaitForMetric(const std::string& name, double at_least) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (publisher_->Metric(name) >= at_least) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_F(PublisherE2eLiveTest, NoLiveSendsNoBatchAndPublishesAsBefore) {
  publisher_->Stop(SIGTERM);
  StartPublisher({"--no-live"});
  const std::string room = "quiet-room";
  OpenRoom(room, R"({"bucket_ms": 250, "action_cap_per_s": 0})");
  const Ack a = PostComment(room, "hello");
  ASSERT_NE(a.seq, 0u);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(a.bucket, 250), std::chrono::seconds(20)));
  HttpResponse r = Get(origin_->url() + segmenter::SegmentPath(room, 250, a.bucket));
  ASSERT_EQ(r.status, 200);
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(r.body));
  ASSERT_EQ(seg.messages_size(), 1);
  EXPECT_EQ(seg.messages(0).seq(), a.seq);
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_live_batches_total"), 0);
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_live_records_pushed_total"), 0);
}

}  // namespace
}  // namespace roomcast::testing
