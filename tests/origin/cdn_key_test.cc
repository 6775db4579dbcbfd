// One URL, one object (DESIGN §4) through the reference nginx and Varnish
// configs: query strings, Accept-Encoding spellings, cookies, Authorization
// and Host values cannot make the cache fetch an object again, and a path
// spelled another way is refused at the edge.
#include <iterator>
#include <random>

#include "absl/strings/str_cat.h"
#include "segmenter/bucketer.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::SegmentPath;

class CdnKeyTest : public OriginTest, public ::testing::WithParamInterface<Cache::Kind> {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    const std::string origin = origin_->url().substr(std::string("http://").size());
    cache_ = std::make_unique<Cache>(GetParam(), origin);
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    OpenRoom("lobby");
    k_ = BucketIndex(WallMs(), 1000) - 10;  // stored (past the watermark)
    path_ = SegmentPath("lobby", 1000, k_);
    // Big enough that the origin keeps a gzip copy of it.
    bytes_ = Encode(MakeSegment("lobby", 1000, k_, 40)).bytes;
    ASSERT_EQ(origin_->PutObject(path_, bytes_).status, 201);
  }
  double OriginRequests() {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"");
  }
  // A request as an attacker varies it: a random query, cookie, token and
  // Host on every one, and one of `encodings` as its Accept-Encoding.
  Headers Varied(std::mt19937& rng, const std::vector<std::string>& encodings, int i) {
    Headers h = {absl::StrCat("Cookie: session=", rng(), "; rc_x=", i),
                 absl::StrCat("Authorization: Bearer junk-", rng()),
                 absl::StrCat("Host: edge-", rng() % 1000, ".example")};
    const std::string& ae = encodings[i % encodings.size()];
    h.push_back(ae.empty() ? "Accept-Encoding:" : "Accept-Encoding: " + ae);
    return h;
  }
  std::string VariedUrl(std::mt19937& rng, int i) {
    // after= with a number too: the origin reads it on a manifest only, so
    // on a bucket it must not make a second cached copy (one a takedown's
    // purge would not name).
    static const char* kQueries[] = {"", "?", "?x=1", "?cb=%d", "?after", "?after=",
                                     "?utm=a&b=c", "?foo=bar&zz=%d", "?%d", "?after=%d",
                                     "?x=1&after=%d"};
    std::string q = kQueries[i % std::size(kQueries)];
    if (auto p = q.find("%d"); p != std::string::npos) q.replace(p, 2, absl::StrCat(rng()));
    return cache_->url() + path_ + q;
  }
  // Sends 50 varied requests for the bucket; returns how many reached the
  // origin, and checks that each got the object in the right encoding.
  double FiftyVaried(const std::vector<std::string>& encodings, bool gzip) {
    std::mt19937 rng(GetParam() == Cache::Kind::kNginx ? 7 : 11);
    const double before = OriginRequests();
    for (int i = 0; i < 50; ++i) {
      HttpResponse r = Get(VariedUrl(rng, i), Varied(rng, encodings, i));
      EXPECT_EQ(r.status, 200) << i;
      EXPECT_EQ(r.header("content-encoding"), gzip ? "gzip" : "") << i << " " << r.header("etag");
      if (!gzip) {
        EXPECT_EQ(r.body, bytes_) << i;
      }
    }
    return OriginRequests() - before;
  }

  std::unique_ptr<Cache> cache_;
  int64_t k_ = 0;
  std::string path_;
  std::string bytes_;
};

TEST_P(CdnKeyTest, FiftyVariedGzipRequestsReachTheOriginAtMostOnce) {
  const double reached = FiftyVaried(
      {"gzip", "GZIP", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1", "deflate,gzip",
       " gzip ", "gzip;q=1", "x-gzip, gzip"},
      /*gzip=*/true);
  EXPECT_LE(reached, 1) << cache_->name();
}

TEST_P(CdnKeyTest, FiftyVariedIdentityRequestsReachTheOriginAtMostOnce) {
  const double reached = FiftyVaried(
      {"", "identity", "gzip;q=0", "GZIP; q=0.000", "deflate", "br", "x-gzip", "gzipped",
       "*;q=0"},
      /*gzip=*/false);
  EXPECT_LE(reached, 1) << cache_->name();
}

TEST_P(CdnKeyTest, OtherSpellingsOfAPathAreRefusedAtTheEdge) {
  const double before = OriginRequests();
  const std::string room_spelled = "/v1/rooms/lob%62y/actions/1000/" + absl::StrCat(k_) + ".pb";
  for (const std::string& p :
       {room_spelled, "/v1/rooms/lobby/actions/1000//" + absl::StrCat(k_) + ".pb",
        "/v1/rooms/lobby/./actions/1000/" + absl::StrCat(k_) + ".pb",
        "/v1/rooms/x/../lobby/actions/1000/" + absl::StrCat(k_) + ".pb"}) {
    HttpResponse r = Get(cache_->url() + p);
    EXPECT_EQ(r.status, 400) << p << " through " << cache_->name();
  }
  EXPECT_EQ(OriginRequests() - before, 0);
}

TEST_P(CdnKeyTest, OnlyAfterReachesTheOriginFromTheQuery) {
  // A manifest hold keyed by after= still works through the edge, whatever
  // else the query holds.
  HttpResponse plain = Get(cache_->url() + segmenter::ManifestPath("lobby"));
  ASSERT_EQ(plain.status, 200);
  HttpResponse varied =
      Get(cache_->url() + segmenter::ManifestPath("lobby") + "?cb=9&after=0&zz=1");
  EXPECT_EQ(varied.status, 200);
  EXPECT_EQ(varied.body, plain.body);
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnKeyTest,
                         ::testing::Values(Cache::Kind::kNginx, Cache::Kind::kVarnish),
                         [](const auto& info) {
                           return info.param == Cache::Kind::kNginx ? "Nginx" : "Varnish";
                         });

}  // namespace
}  // namespace roomcast::testing
