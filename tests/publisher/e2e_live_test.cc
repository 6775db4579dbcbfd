// Live push with real processes (DESIGN §10, §7 invariants 1, 2 and 7): a
// real roomcast-publisher pushing open buckets to a real roomcast-origin
// (POST /v1/live), killed with SIGKILL in the middle of a bucket. After the
// restart it pushes the bucket again from 0 (the origin's overlap check makes
// that a no-op); a viewer that streamed the bucket across the crash gets the
// stored segment's bytes, which hold every acked message once, in order.
// With --no-live the publisher sends no live batch and publishes as before.
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
  // Polls `done` (10 s at most).
  template <typename F>
  static bool WaitFor(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  bool WaitForMetric(const std::string& name, double at_least) {
    return WaitFor([&] { return publisher_->Metric(name) >= at_least; });
  }
};

TEST_F(PublisherE2eLiveTest, KillNineMidBucketThenTheBucketCompletesWithEveryAckOnceInOrder) {
  const std::string room = "live-room";
  OpenRoom(room, absl::StrCat(R"({"bucket_ms": )", kBucketMs, R"(, "action_cap_per_s": 0})"));
  // The origin takes pushes only for a room whose manifest it has.
  ASSERT_TRUE(WaitFor([&] {
    return Get(origin_->url() + segmenter::ManifestPath(room)).status == 200;
  })) << publisher_->LogTail();
  // Start early in a bucket, so that the crash and restart happen inside it.
  const int64_t now = WallMs();
  int64_t k = segmenter::BucketIndex(now, kBucketMs);
  if (segmenter::BucketEnd(k, kBucketMs) - now < 4000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(segmenter::BucketEnd(k, kBucketMs) - now));
    ++k;
  }
  std::vector<Ack> acks;
  for (int i = 0; i < 5; ++i) acks.push_back(PostComment(room, absl::StrCat("before-", i)));
  ASSERT_TRUE(WaitForMetric("roomcast_publisher_live_records_pushed_total", 5))
      << publisher_->LogTail();
  // A viewer streaming the open bucket across the crash (DESIGN §10).
  HttpResponse streamed;
  std::jthread viewer([&] {  // joins on every way out
    streamed = Fetch("GET", origin_->url() + segmenter::SegmentPath(room, kBucketMs, k), "", {},
                     std::chrono::seconds(30));
  });

  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  for (int i = 0; i < 5; ++i) acks.push_back(PostComment(room, absl::StrCat("after-", i)));
  // From 0 again: the 5 the origin has, then the 5 new ones.
  ASSERT_TRUE(WaitForMetric("roomcast_publisher_live_records_pushed_total", 10))
      << publisher_->LogTail();
  for (const Ack& a : acks) {
    ASSERT_NE(a.seq, 0u);
    ASSERT_EQ(a.bucket, k) << "the bucket closed before the test was done with it";
  }
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_live_refused_total"), 0)
      << "the origin refused the re-push: " << publisher_->LogTail();

  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(k, kBucketMs), std::chrono::seconds(20)));
  viewer.join();
  HttpResponse r = Get(origin_->url() + segmenter::SegmentPath(room, kBucketMs, k));
  ASSERT_EQ(r.status, 200);
  // The stream was the object: the same bytes as the stored segment.
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.body == r.body) << streamed.body.size() << " vs " << r.body.size();
  absl::StatusOr<segmenter::SegmentParts> parts = segmenter::SplitSegment(r.body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(r.body));
  ASSERT_EQ(seg.messages_size(), static_cast<int>(acks.size()));
  for (size_t i = 0; i < acks.size(); ++i) {
    EXPECT_EQ(seg.messages(static_cast<int>(i)).seq(), acks[i].seq);
    EXPECT_EQ(seg.messages(static_cast<int>(i)).comment().text(),
              absl::StrCat(i < 5 ? "before-" : "after-", i % 5));
  }
  EXPECT_EQ(ImmutableConflicts(), 0);
  EXPECT_EQ(origin_->Metric("roomcast_origin_live_conflicts_total"), 0);
}


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
