// Private rooms through the reference edges (DESIGN §12): nginx (njs) and
// Varnish (vmod_digest) verify the edge token before their cache lookup and
// keep it out of the cache key, so every entitled viewer shares one cached
// object and nobody else gets past the edge.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "tests/origin/private_room_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;
using segmenter::Format;
using segmenter::Scope;

class CdnPrivateTest : public PrivateRoomFixture,
                       public ::testing::WithParamInterface<Cache::Kind> {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    const std::string origin = origin_->url().substr(std::string("http://").size());
    cache_ = std::make_unique<Cache>(GetParam(), origin, kEdgeSecret);
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    StoreRoom(30);
  }
  std::string Url(const std::string& path, const std::string& token) {
    return TokenUrl(cache_->url(), path, token);
  }
  double OriginRequests() { return origin_->Metric("roomcast_origin_requests_total"); }

  std::unique_ptr<Cache> cache_;
};

TEST_P(CdnPrivateTest, NoTokenIs401AtTheEdgeForEveryObject) {
  const double before = OriginRequests();
  for (const std::string& p : Objects()) {
    HttpResponse r = Get(cache_->url() + p);
    EXPECT_EQ(r.status, 401) << p << " through " << cache_->name();
    EXPECT_EQ(r.header("cache-control"), "private, no-store") << p;
    EXPECT_TRUE(absl::StrContains(r.body, "\"error\":\"unauthorized\"")) << r.body;
  }
  EXPECT_EQ(OriginRequests(), before) << "the edge let a request through";
}

TEST_P(CdnPrivateTest, BadTokensAre403AtTheEdge) {
  const double before = OriginRequests();
  std::string forged = Token("vip");
  char& digit = forged[forged.size() - 7];
  digit = digit == '0' ? '1' : '0';
  for (const std::string& p : Objects()) {
    for (const std::string& bad :
         {Token("vip", -5), forged, std::string("exp=12~acl=/v1/private/vip/*~hmac=zz"),
          std::string("garbage"), Token("vi"), Token("other")}) {
      HttpResponse r = Get(Url(p, bad));
      EXPECT_EQ(r.status, 403) << p << " with " << bad << " through " << cache_->name();
      EXPECT_EQ(r.header("cache-control"), "private, no-store") << p;
    }
  }
  EXPECT_EQ(OriginRequests(), before) << "the edge let a request through";
}

TEST_P(CdnPrivateTest, AValidTokenInTheQueryOrACookieReadsEveryObject) {
  const std::string t = Token("vip");
  for (const std::string& p : Objects()) {
    HttpResponse q = Get(Url(p, t));
    EXPECT_EQ(q.status, 200) << p << " through " << cache_->name() << ": " << q.body;
    HttpResponse c = Get(cache_->url() + p, {"Cookie: a=b; rc_token=" + t});
    EXPECT_EQ(c.status, 200) << p << " through " << cache_->name() << ": " << c.body;
    EXPECT_TRUE(absl::StartsWith(q.header("cache-control"), "private")) << p;
    EXPECT_EQ(q.header("cdn-cache-control"), "") << "for the edge only";
  }
}

TEST_P(CdnPrivateTest, ViewersWithDifferentTokensShareOneCachedObject) {
  const std::string path = segmenter::SegmentPath("vip", 1000, k_, Format::kProto, Scope::kPrivate);
  const double before = origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"");
  for (int viewer = 0; viewer < 10; ++viewer) {
    const std::string t = Token("vip", 600 + viewer);  // each token differs
    HttpResponse r = viewer % 2 ? Get(Url(path, t)) : Get(cache_->url() + path, {"Cookie: rc_token=" + t});
    ASSERT_EQ(r.status, 200) << viewer;
    EXPECT_EQ(r.body, bytes_);
  }
  EXPECT_EQ(origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"") - before, 1)
      << cache_->name();
  // Cached, it is still nobody else's.
  EXPECT_EQ(Get(cache_->url() + path).status, 401);
  EXPECT_EQ(Get(Url(path, Token("other"))).status, 403);
}

TEST_P(CdnPrivateTest, PublicRoomsNeedNoToken) {
  OpenRoom("lobby");
  EXPECT_EQ(Get(cache_->url() + segmenter::ManifestPath("lobby")).status, 200);
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnPrivateTest,
                         ::testing::Values(Cache::Kind::kNginx, Cache::Kind::kVarnish),
                         [](const auto& info) {
                           return info.param == Cache::Kind::kNginx ? "Nginx" : "Varnish";
                         });

}  // namespace
}  // namespace roomcast::testing
