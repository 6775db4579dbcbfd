// origin/origin_server.cc in process: the one entry point serves on a free
// loopback port, reads time only from the injected clock (buckets, retention,
// peer tokens, the sweeper), and stops (by Stop() or SIGTERM) by answering
// held requests at once.
#include "origin/origin_server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::origin {
namespace {

using namespace std::chrono_literals;
using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::SegmentPath;
using testing::HttpResponse;

// 2001-09-09: decades from the wall clock, so an answer judged by the wall
// clock instead would differ.
constexpr int64_t kNowMs = 1'000'000'000'000;

class OriginServerTest : public ::testing::Test {
 protected:
  void Start(std::chrono::milliseconds sweep_interval = 60s) {
    OriginServerOptions options;
    options.origin = {.data_dir = dir_.path(),
                      .write_secret = testing::kWriteSecret,
                      .verify_viewer = JwtViewerVerifier(testing::kJwtSecret, &clock_),
                      .clock = &clock_};
    options.http.listen = "127.0.0.1:0";
    options.http.threads = 1;
    options.sweep_interval = sweep_interval;
    auto server = OriginServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpResponse Put(const std::string& path, const std::string& body) {
    return testing::Put(server_->url() + path, body,
                        {std::string("Authorization: Bearer ") + testing::kWriteSecret});
  }
  HttpResponse Get(const std::string& path, const testing::Headers& headers = {}) {
    return testing::Get(server_->url() + path, headers);
  }

  // Room `room` opened a minute ago by the injected clock, its buckets
  // closed up to 20 s ago.
  void OpenRoom(const std::string& room, uint32_t retention_s = 86400) {
    v1::Manifest m = testing::MakeManifest(room, 1, kNowMs - 60'000, 1000, retention_s);
    ASSERT_EQ(Put(segmenter::ManifestPath(room), Encode(m).bytes).status, 200);
    v1::Watermark wm;
    wm.set_publisher(testing::kPublisher);
    wm.set_watermark_ms(kNowMs - 20'000);
    ASSERT_EQ(Put(segmenter::WatermarkPath(testing::kPublisher), wm.SerializeAsString()).status,
              200);
  }

  base::FakeClock clock_{kNowMs};
  testing::TempDir dir_;
  std::unique_ptr<OriginServer> server_;
};

TEST_F(OriginServerTest, ServesOnTheFreePortItWasGiven) {
  Start();
  EXPECT_TRUE(absl::StartsWith(server_->url(), "http://127.0.0.1:")) << server_->url();
  EXPECT_NE(testing::PortOf(server_->url()), 0);
  HttpResponse r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(OriginServerTest, ClosedEmptyBucketAndRetentionFollowTheInjectedClock) {
  Start();
  OpenRoom("lobby");
  const std::string closed = SegmentPath("lobby", 1000, BucketIndex(kNowMs - 30'000, 1000));
  HttpResponse r = Get(closed);
  EXPECT_EQ(r.status, 200);  // by the wall clock: decades past retention
  EXPECT_EQ(r.header("cache-control"), "public, max-age=31536000, immutable");
  clock_.Advance(2 * 86'400'000);
  HttpResponse gone = Get(closed);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.header("cache-control"), "public, max-age=60");
}

TEST_F(OriginServerTest, BucketAheadOfTheInjectedClockIsNotFoundAtOnce) {
  Start();
  OpenRoom("lobby");
  HttpResponse r = Get(SegmentPath("lobby", 1000, BucketIndex(kNowMs + 30'000, 1000)));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_NE(r.body.find("further ahead than the hold limit"), std::string::npos) << r.body;
  EXPECT_LT(r.seconds, 1.0);  // not held
}

TEST_F(OriginServerTest, PeerTokensExpireByTheInjectedClock) {
  Start();
  OpenRoom("lobby");
  const std::string token = auth::MintJwt(
      {.sub = "alice", .role = v1::ROLE_AUDIENCE, .room = "lobby", .exp = kNowMs / 1000 + 60},
      testing::kJwtSecret);
  const std::string path =
      segmenter::PeerPath("lobby", "alice", 1000, BucketIndex(kNowMs - 30'000, 1000));
  const testing::Headers auth = {"Authorization: Bearer " + token};
  EXPECT_EQ(Get(path, auth).status, 200);
  clock_.Advance(120'000);
  HttpResponse expired = Get(path, auth);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.header("cache-control"), "private, no-store");
}

TEST_F(OriginServerTest, SweeperRemovesObjectsOnceTheInjectedClockPassesTheirRetention) {
  Start(/*sweep_interval=*/50ms);
  OpenRoom("brief", /*retention_s=*/1);
  v1::StateComponent c;
  c.set_room("brief");
  c.set_name("title");
  c.set_version(1);
  const std::string path = segmenter::StatePath("brief", "title", 1);
  ASSERT_EQ(Put(path, Encode(c).bytes).status, 201);
  std::this_thread::sleep_for(300ms);  // several sweeps, but no time has passed
  EXPECT_EQ(Get(path).status, 200);
  clock_.Advance(2000);
  HttpResponse gone;
  for (int i = 0; i < 50 && gone.status != 404; ++i) {  // bounded at 5 s
    std::this_thread::sleep_for(100ms);
    gone = Get(path);
  }
  EXPECT_EQ(gone.status, 404);
}

TEST_F(OriginServerTest, StopAnswersHeldRequestsAtOnce) {
  Start();
  OpenRoom("lobby");
  // Starts in 1 to 2 s: held until then (an open bucket streams instead, and
  // Stop cuts its stream: live_test.cc).
  const std::string open_bucket = SegmentPath("lobby", 1000, BucketIndex(kNowMs, 1000) + 2);
  auto held = std::async(std::launch::async, [&] { return Get(open_bucket); });
  std::this_thread::sleep_for(300ms);
  server_->Stop();
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 404);  // "not yet", cacheable for a second
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_LT(r.seconds, 2.0);  // well before the 3 s hold limit
  server_->Stop();            // again: harmless
}

TEST_F(OriginServerTest, SigtermRunsBeforeStopWhileStillServingThenStops) {
  Start();
  OpenRoom("lobby");
  // Starts in 1 to 2 s: held until then (an open bucket streams instead, and
  // Stop cuts its stream: live_test.cc).
  const std::string open_bucket = SegmentPath("lobby", 1000, BucketIndex(kNowMs, 1000) + 2);
  auto held = std::async(std::launch::async, [&] { return Get(open_bucket); });
  std::thread signaller([] {
    std::this_thread::sleep_for(300ms);
    kill(getpid(), SIGTERM);  // caught by the server since Start()
  });
  long served_before_stop = 0;
  server_->WaitForSignal([&] { served_before_stop = Get("/healthz").status; });
  signaller.join();
  EXPECT_EQ(served_before_stop, 200);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 404);
  EXPECT_LT(r.seconds, 2.0);  // released, not left to the 3 s hold limit
}

}  // namespace
}  // namespace roomcast::origin
