// DESIGN §7 invariants 1-3 with real processes: the publisher killed with
// SIGKILL at random moments under load, and the origin stopped and
// restarted under load. Afterwards every acknowledged message is in exactly
// one segment at its acked seq, seq has no gaps, and no segment a viewer was
// served ever changed.
#include <signal.h>

#include <random>

#include "segmenter/bucketer.h"
#include "tests/publisher/e2e_traffic.h"

namespace roomcast::testing {
namespace {

constexpr int64_t kBucketMs = 250;
constexpr char kOpenBody[] = R"({"bucket_ms": 250, "action_cap_per_s": 0})";

class PublisherE2eCrashTest : public PublisherE2eTest {
 protected:
  // Waits for the publisher to publish everything up to now, then reads the
  // room back from bucket `first_k`.
  RoomSegments ReadAll(const std::string& room, int64_t first_k) {
    return PublisherE2eTest::ReadAll(room, kBucketMs, first_k);
  }
};

TEST_F(PublisherE2eCrashTest, KillNineAtRandomMomentsLosesNoAck) {
  const std::string room = "crash-room";
  OpenRoom(room, kOpenBody);
  // After the open: a bucket that ended before the room was opened is a
  // lasting 404 ("before the room existed"), not an empty segment.
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);

  SharedUrl url(publisher_->url());
  Traffic traffic({.room = room, .token = Token("host", v1::ROLE_ANCHOR, room),
                   .threads = 3, .max_batch = 20, .seed = seed},
                  &url);
  Follower follower(origin_->url(), room, kBucketMs, first_k);
  constexpr int kCrashes = 12;
  int64_t acked_at_last_crash = 0;
  int crashes_with_progress = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCrashes; ++i) {
    // From right after a restart (recovery, re-publication) to mid-flight.
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 1200));
    ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
    if (traffic.acked() > acked_at_last_crash) ++crashes_with_progress;
    acked_at_last_crash = traffic.acked();
    ASSERT_TRUE(publisher_->Start()) << "restart " << i << ":\n" << publisher_->LogTail();
    url.Set(publisher_->url());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  traffic.Stop(std::chrono::seconds(10));
  RecordProperty("crash_loop_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      std::chrono::steady_clock::now() - t0)
                                                      .count()));
  // Traffic must actually have been acked between most crashes, or the test
  // proves little.
  EXPECT_GE(crashes_with_progress, kCrashes / 2);
  EXPECT_GT(traffic.acks().size(), 500u);
  EXPECT_TRUE(traffic.unacked().empty());

  RoomSegments segs = ReadAll(room, first_k);
  follower.Stop();
  ExpectAllAckedExactlyOnce(segs, traffic, follower);
  EXPECT_GT(follower.seen().size(), 10u) << "the follower saw too little to compare";
  EXPECT_EQ(ImmutableConflicts(), 0);
  std::cerr << "crash test: " << traffic.acks().size() << " acks, " << traffic.retries()
            << " retries, " << follower.seen().size() << " segments followed" << std::endl;
}

TEST_F(PublisherE2eCrashTest, OriginOutageUnderLoadLosesNothing) {
  const std::string room = "outage-room";
  OpenRoom(room, kOpenBody);
  // After the open: a bucket that ended before the room was opened is a
  // lasting 404 ("before the room existed"), not an empty segment.
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  SharedUrl url(publisher_->url());
  Traffic traffic({.room = room, .token = Token("host", v1::ROLE_ANCHOR, room),
                   .threads = 2, .max_batch = 10, .seed = 7},
                  &url);
  const std::string origin_url = origin_->url();
  Follower follower(origin_url, room, kBucketMs, first_k);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  ASSERT_EQ(origin_->Stop(SIGKILL), 128 + SIGKILL);
  const int64_t acked_at_outage = traffic.acked();
  const int64_t watermark_at_outage = WallMs();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // Durability is local: acks keep coming while the origin is away.
  EXPECT_GT(traffic.acked() - acked_at_outage, 100);

  origin_ = std::make_unique<OriginProcess>(origin_dir_.path());
  ASSERT_TRUE(origin_->Start("127.0.0.1:" + std::to_string(PortOf(origin_url))))
      << "the origin did not come back on its port";
  ASSERT_EQ(origin_->url(), origin_url);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  traffic.Stop(std::chrono::seconds(10));
  EXPECT_TRUE(traffic.unacked().empty());

  // The watermark catches up past the outage.
  RoomSegments segs = ReadAll(room, first_k);
  EXPECT_GT(OriginWatermarkMs(), watermark_at_outage + 3000);
  follower.Stop();
  ExpectAllAckedExactlyOnce(segs, traffic, follower);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

}  // namespace
}  // namespace roomcast::testing
