// DESIGN §11's takedown through a real nginx (libnginx-mod-http-cache-purge)
// and a real Varnish, from the reference configs in origin/cdn/: an object
// the cache holds is replaced at the origin, the origin purges it (--purge),
// and the cache then serves the stub in every rendition and encoding; a
// PURGE without the purge secret changes nothing.
#include <signal.h>

#include <fstream>
#include <thread>

#include "origin/store.h"
#include "segmenter/bucketer.h"
#include "tests/origin/takedown_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::Format;
using segmenter::SegmentPath;

// One way a viewer asks for the object: its rendition and encoding.
struct Variant {
  Format format;
  bool gzip;
};
constexpr Variant kVariants[] = {{Format::kProto, false},
                                 {Format::kProto, true},
                                 {Format::kJson, false},
                                 {Format::kJson, true}};

class CdnTakedownTest : public OriginTest, public ::testing::WithParamInterface<Cache::Kind> {
 protected:
  // The origin, then the cache in front of it, then the origin again on
  // its port, now purging that cache.
  void StartWithPurges() {
    const std::string listen = origin_->url().substr(std::string("http://").size());
    cache_ = std::make_unique<Cache>(GetParam(), listen);
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    const std::string secret_file = dir_.path() + "/purge-secret";
    std::ofstream(secret_file) << cache_->purge_secret() << "\n";
    origin_->Stop(SIGTERM);
    origin_ = std::make_unique<OriginProcess>(
        dir_.path(), std::vector<std::string>{"--purge", cache_->url(),
                                              "--purge-secret-file", secret_file});
    ASSERT_TRUE(origin_->Start(listen)) << "roomcast-origin did not restart";
    StoreSegment();
  }
  void StartWithoutPurges() {
    cache_ = std::make_unique<Cache>(
        GetParam(), origin_->url().substr(std::string("http://").size()));
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    StoreSegment();
  }
  void StoreSegment() {
    OpenRoom("lobby");
    k_ = BucketIndex(WallMs(), 1000) - 10;
    seg_ = MakeSegment("lobby", 1000, k_, 40);  // big enough for gzip
    old_ = Encode(seg_);
    stub_ = Encode(Stubbed(seg_, {7}));
    ASSERT_EQ(origin_->PutObject(SegmentPath("lobby", 1000, k_), old_.bytes).status, 201);
  }
  HttpResponse Fetch(const Variant& v) {
    Headers h;
    if (v.gzip) h.push_back("Accept-Encoding: gzip");
    return Get(cache_->url() + SegmentPath("lobby", 1000, k_, v.format), h);
  }
  // The body a viewer sees, gunzipped if it came gzipped.
  static std::string Body(const HttpResponse& r) {
    return r.header("content-encoding") == "gzip" ? origin::Gunzip(r.body) : r.body;
  }
  // Every variant fetched until the cache holds it (a HIT). (Varnish may
  // answer a gzip client with the identity object it already holds.)
  void CacheEveryVariant() {
    for (const Variant& v : kVariants) {
      Fetch(v);
      HttpResponse hit = Fetch(v);
      ASSERT_EQ(hit.status, 200);
      ASSERT_EQ(hit.header("x-cache-status"), "HIT") << cache_->name();
      if (v.format == Format::kProto) {
        ASSERT_EQ(Body(hit), old_.bytes);
      }
    }
  }
  bool ServesStub(const Variant& v) {
    HttpResponse r = Fetch(v);
    if (r.status != 200) return false;
    if (v.format == Format::kProto) return Body(r) == stub_.bytes;
    return Body(r).find("\"redacted\":{}") != std::string::npos &&
           Body(r).find("hello number 6 ") == std::string::npos;
  }

  std::unique_ptr<Cache> cache_;
  int64_t k_ = 0;
  v1::ActionSegment seg_;
  segmenter::EncodedObject old_, stub_;
};

TEST_P(CdnTakedownTest, CacheServesTheStubInEveryVariantOnceTheOriginPurgedIt) {
  StartWithPurges();
  CacheEveryVariant();
  HttpResponse hit = Fetch(kVariants[0]);
  EXPECT_EQ(hit.header("surrogate-key"), absl::StrCat("room/lobby bucket/lobby/1000/", k_));
  EXPECT_EQ(hit.header("xkey"), absl::StrCat("room/lobby bucket/lobby/1000/", k_));

  HttpResponse td = Put(origin_->url() + SegmentPath("lobby", 1000, k_), stub_.bytes,
                        TakedownHeaders(old_.digest, "7"));
  ASSERT_EQ(td.status, 201) << td.body;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<bool> done(std::size(kVariants), false);
  while (std::chrono::steady_clock::now() < deadline &&
         std::find(done.begin(), done.end(), false) != done.end()) {
    for (size_t i = 0; i < std::size(kVariants); ++i) done[i] = done[i] || ServesStub(kVariants[i]);
    std::this_thread::sleep_for(50ms);
  }
  for (size_t i = 0; i < std::size(kVariants); ++i) {
    EXPECT_TRUE(done[i]) << cache_->name() << " still serves the old bytes of variant " << i;
  }
  EXPECT_EQ(Fetch(kVariants[1]).header("etag").rfind("\"" + stub_.digest, 0), 0u);
  EXPECT_EQ(origin_->Metric("roomcast_origin_purges_total", "result=\"failed\""), 0);
  EXPECT_GE(origin_->Metric("roomcast_origin_purges_total", "result=\"purged\""), 1);
}

TEST_P(CdnTakedownTest, PurgeWithoutTheSecretChangesNothing) {
  StartWithoutPurges();
  CacheEveryVariant();
  const std::string url = cache_->url() + SegmentPath("lobby", 1000, k_);
  const Headers refused[] = {{}, {"Roomcast-Purge-Secret: wrong"}, {"Roomcast-Purge-Secret: "}};
  for (const Headers& h : refused) {
    HttpResponse r = testing::Fetch("PURGE", url, "", h);
    EXPECT_EQ(r.status, 403) << cache_->name() << ": " << r.body;
  }
  HttpResponse del = testing::Fetch("DELETE", url);
  EXPECT_TRUE(del.status == 403 || del.status == 405) << del.status;
  for (const Variant& v : kVariants) {
    HttpResponse r = Fetch(v);
    EXPECT_EQ(r.header("x-cache-status"), "HIT") << cache_->name();
  }
  // With the secret, the config purges what the origin names (each
  // encoding variant is asked for: nginx keys on it).
  const std::string secret = "Roomcast-Purge-Secret: " + cache_->purge_secret();
  EXPECT_EQ(testing::Fetch("PURGE", url, "", {secret}).status, 200);
  EXPECT_EQ(testing::Fetch("PURGE", url, "", {secret, "Accept-Encoding: gzip"}).status, 200);
  EXPECT_EQ(Fetch(kVariants[1]).header("x-cache-status"), "MISS");
  if (GetParam() == Cache::Kind::kNginx) {  // Varnish refetched one object for both
    EXPECT_EQ(Fetch(kVariants[0]).header("x-cache-status"), "MISS");
  }
  EXPECT_EQ(Fetch(kVariants[2]).header("x-cache-status"), "HIT") << "only the .pb was purged";
}

// Purges by key (the xkey header) are Varnish's, with varnish-modules.
class CdnXkeyTest : public CdnTakedownTest {};

TEST_P(CdnXkeyTest, PurgesEveryObjectOfTheBucketsKey) {
  StartWithoutPurges();
  CacheEveryVariant();
  const std::string url = cache_->url() + SegmentPath("lobby", 1000, k_);
  const std::string key = absl::StrCat("xkey-purge: bucket/lobby/1000/", k_);
  EXPECT_EQ(testing::Fetch("PURGE", url, "", {key}).status, 403);
  EXPECT_EQ(Fetch(kVariants[2]).header("x-cache-status"), "HIT");
  HttpResponse r = testing::Fetch(
      "PURGE", url, "", {key, "Roomcast-Purge-Secret: " + cache_->purge_secret()});
  EXPECT_EQ(r.status, 200) << r.body;
  // The bucket's key is on both renditions: both are gone.
  EXPECT_EQ(Fetch(kVariants[2]).header("x-cache-status"), "MISS");
  EXPECT_EQ(Fetch(kVariants[1]).header("x-cache-status"), "MISS");
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnTakedownTest,
                         ::testing::Values(Cache::Kind::kNginx, Cache::Kind::kVarnish),
                         [](const auto& info) {
                           return info.param == Cache::Kind::kNginx ? "Nginx" : "Varnish";
                         });
INSTANTIATE_TEST_SUITE_P(Caches, CdnXkeyTest, ::testing::Values(Cache::Kind::kVarnish),
                         [](const auto&) { return "Varnish"; });
}  // namespace
}  // namespace roomcast::testing
