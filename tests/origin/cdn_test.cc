// roomcast-origin behind a real nginx (proxy_cache_lock) and a real Varnish
// (default coalescing), started from the reference configs in origin/cdn/.
// DESIGN §4: a held URL reaches the origin about once per edge, a stored
// object is then served by the cache, and neither an early request nor a
// stalled publisher turns into a herd or blinds viewers.
#include <future>
#include <thread>

#include "segmenter/bucketer.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::SegmentPath;

constexpr int kFollowers = 200;

class CdnTest : public OriginTest, public ::testing::WithParamInterface<Cache::Kind> {
 protected:
  void StartCache() {
    const std::string origin = origin_->url().substr(std::string("http://").size());
    cache_ = std::make_unique<Cache>(GetParam(), origin);
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
  }
  double OriginActionRequests() {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"");
  }
  std::vector<HttpResponse> Followers(const std::string& path) {
    return ParallelGet(std::vector<std::string>(kFollowers, cache_->url() + path));
  }
  // Followers as a client runs them: a "not yet" 404 is asked again after a
  // short pause, until every follower has the object or 6 s have passed.
  // Returns each follower's answer and when it got it.
  struct Followed {
    std::vector<HttpResponse> answers;
    std::vector<std::chrono::steady_clock::time_point> at;
  };
  Followed FollowWithRetries(const std::string& path) {
    Followed f{std::vector<HttpResponse>(kFollowers),
               std::vector<std::chrono::steady_clock::time_point>(kFollowers)};
    std::vector<int> pending(kFollowers);
    for (int i = 0; i < kFollowers; ++i) pending[i] = i;
    const auto deadline = std::chrono::steady_clock::now() + 6s;
    while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
      std::vector<HttpResponse> got =
          ParallelGet(std::vector<std::string>(pending.size(), cache_->url() + path));
      std::vector<int> still;
      for (size_t j = 0; j < got.size(); ++j) {
        f.answers[pending[j]] = got[j];
        f.at[pending[j]] = std::chrono::steady_clock::now();
        if (got[j].status != 200) still.push_back(pending[j]);
      }
      pending = std::move(still);
      if (!pending.empty()) std::this_thread::sleep_for(200ms);
    }
    return f;
  }

  std::unique_ptr<Cache> cache_;
};

TEST_P(CdnTest, HeldBucketReachesTheOriginAboutOnce) {
  StartCache();
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;  // closes within 2 s
  const std::string path = SegmentPath("lobby", 1000, k);
  const std::string bytes = Encode(MakeSegment("lobby", 1000, k, 10)).bytes;
  const double before = OriginActionRequests();

  auto followers = std::async(std::launch::async, [&] { return Followers(path); });
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(origin_->PutObject(path, bytes).status, 201);
  std::vector<HttpResponse> got = followers.get();

  int ok = 0;
  for (const HttpResponse& r : got) ok += r.status == 200 && r.body == bytes;
  EXPECT_EQ(ok, kFollowers);
  const double reached = OriginActionRequests() - before;
  EXPECT_GE(reached, 1);
  EXPECT_LE(reached, 2) << kFollowers << " followers through " << cache_->name();

  // Now a plain cache hit: the origin sees nothing more.
  HttpResponse again = Get(cache_->url() + path);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, bytes);
  EXPECT_EQ(again.header("x-cache-status"), "HIT");
  EXPECT_EQ(OriginActionRequests() - before, reached);
}

TEST_P(CdnTest, EarlyRequestNeitherBlindsViewersNorBreaksCollapsing) {
  StartCache();
  OpenRoom("lobby");
  // Further ahead than the 3 s hold: an early (or hostile) client asks now.
  const int64_t k = BucketIndex(WallMs() + 4500, 1000);
  const std::string path = SegmentPath("lobby", 1000, k);
  HttpResponse early = Get(cache_->url() + path);
  EXPECT_EQ(early.status, 404);
  EXPECT_EQ(early.header("cache-control"), "public, max-age=1");

  // Once the bucket is within the hold limit, viewers follow it as usual.
  const int64_t end = segmenter::BucketEnd(k, 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(0, end - 2500 - WallMs())));
  const double before = OriginActionRequests();
  const std::string bytes = Encode(MakeSegment("lobby", 1000, k, 3)).bytes;
  auto followers = std::async(std::launch::async, [&] { return FollowWithRetries(path); });
  std::this_thread::sleep_for(300ms);
  const auto put_at = std::chrono::steady_clock::now();
  ASSERT_EQ(origin_->PutObject(path, bytes).status, 201);
  Followed got = followers.get();
  int ok = 0;
  auto worst = 0ms;
  for (int i = 0; i < kFollowers; ++i) {
    ok += got.answers[i].status == 200 && got.answers[i].body == bytes;
    worst = std::max(worst, std::chrono::duration_cast<std::chrono::milliseconds>(
                                got.at[i] - put_at));
  }
  EXPECT_EQ(ok, kFollowers);
  // Not blinded: every follower has the object within a second of its PUT.
  EXPECT_LT(worst, 1000ms) << cache_->name();
  // Still collapsed: no hit-for-miss (Varnish) and no lock bypass on the
  // expired entry (nginx) left behind by the early 404.
  EXPECT_LE(OriginActionRequests() - before, 3) << cache_->name();
}

TEST_P(CdnTest, StalledPublisherDoesNotReleaseAHerd) {
  StartOrigin({"--max-hold-ms", "1000"});
  StartCache();
  OpenRoom("lobby");
  // Ended two seconds ago; the publisher never closes it.
  const int64_t k = BucketIndex(WallMs() - 2000, 1000);
  const std::string path = SegmentPath("lobby", 1000, k);
  const double before = OriginActionRequests();
  std::vector<HttpResponse> got = Followers(path);
  int not_yet = 0;
  for (const HttpResponse& r : got) {
    not_yet += r.status == 404 && r.header("cache-control") == "public, max-age=1";
  }
  EXPECT_EQ(not_yet, kFollowers);
  EXPECT_LE(OriginActionRequests() - before, 3)
      << "the stall answer reached the origin once per follower";
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnTest,
                         ::testing::Values(Cache::Kind::kNginx, Cache::Kind::kVarnish),
                         [](const auto& info) {
                           return info.param == Cache::Kind::kNginx ? "Nginx" : "Varnish";
                         });

}  // namespace
}  // namespace roomcast::testing
