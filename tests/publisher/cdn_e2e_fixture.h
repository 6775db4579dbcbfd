// End-to-end through a real cache: the real roomcast-publisher uploading to
// the real roomcast-origin (PublisherE2eTest), and one real nginx or Varnish
// started from the reference configs in origin/cdn/ in front of the origin,
// the cache kind being the test's parameter. What the §11 acceptance tests
// need around it: every rendition of an object (.pb and .json, identity and
// gzip) read at the origin and through the cache, decoded; the manifest,
// state components and snapshots through the cache; bounded polls.
//
//   TEST_P(CdnModerationE2eTest, Something) {
//     OpenRoom("r", R"({"bucket_ms": 250})");
//     ...
//     for (const Rendition& r : Renditions(cache_->url(), SegmentPaths(...)))
//       EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.label;
//   }
#ifndef ROOMCAST_TESTS_PUBLISHER_CDN_E2E_FIXTURE_H_
#define ROOMCAST_TESTS_PUBLISHER_CDN_E2E_FIXTURE_H_

#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "origin/store.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {

// One rendition of one object as a client got it: which (path, encoding
// asked), the answer, and the body decoded if it came gzipped.
struct Rendition {
  std::string label;  // "PATH (gzip)"
  HttpResponse response;
  std::string body;  // decoded; "" if a gzip body did not inflate
};

// The .pb and .json paths of one object.
using PathPair = std::pair<std::string, std::string>;

class CdnModerationE2eTest : public PublisherE2eTest,
                             public ::testing::WithParamInterface<Cache::Kind> {
 protected:
  // D = 250 ms and rollups of R = 1000 ms, so that a rollup is complete
  // within a test's few seconds.
  static constexpr int64_t kBucketMs = 250;
  static constexpr int64_t kRollupMs = 1000;

  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
    // The cache in front of the origin's port, then the origin again on
    // that port, now purging the cache after a takedown (DESIGN §11), then
    // the publisher. The edge secret is the origin's: a private room's edge
    // tokens pass both.
    const std::string origin =
        origin_->url().substr(std::string("http://").size());
    cache_ = std::make_unique<Cache>(GetParam(), origin, kEdgeSecret);
    ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    const std::string secret_file = purge_dir_.path() + "/purge-secret";
    std::ofstream(secret_file) << cache_->purge_secret() << "\n";
    ASSERT_EQ(origin_->Stop(SIGTERM), 0);
    origin_ = std::make_unique<OriginProcess>(
        origin_dir_.path(),
        std::vector<std::string>{"--purge", cache_->url(),
                                 "--purge-secret-file", secret_file});
    ASSERT_TRUE(origin_->Start(origin))
        << "roomcast-origin did not restart on " << origin;
    StartPublisher({"--rollup-ms", std::to_string(kRollupMs)});
  }
  void TearDown() override {
    cache_.reset();  // stops it (by PID)
    PublisherE2eTest::TearDown();
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body, const std::string& token) const {
    return Fetch(method, PublisherUrl(path), body, JsonHeaders(token));
  }
  // Posts one comment as `token`; its seq (0, with a failure, if refused).
  uint64_t Post(const std::string& room, const std::string& text,
                const std::string& token) const {
    HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                              R"({"type": "comment", "text": ")" + text + "\"}", token);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.size() == 1 ? acks[0].seq : 0;
  }
  HttpResponse Retract(const std::string& room, uint64_t seq, const std::string& token,
                       const std::string& body = "") const {
    return Send("DELETE", "/v1/rooms/" + room + "/messages/" + std::to_string(seq), body,
                token);
  }

  static PathPair SegmentPaths(const std::string& room, int64_t d, int64_t k) {
    return {segmenter::SegmentPath(room, d, k),
            segmenter::SegmentPath(room, d, k, segmenter::Format::kJson)};
  }
  static PathPair StatePaths(const std::string& room, const std::string& c, uint64_t v) {
    const auto vv = static_cast<int64_t>(v);
    return {segmenter::StatePath(room, c, vv),
            segmenter::StatePath(room, c, vv, segmenter::Format::kJson)};
  }
  static PathPair SnapshotPaths(const std::string& room, uint64_t v) {
    const auto vv = static_cast<int64_t>(v);
    return {segmenter::SnapshotPath(room, vv),
            segmenter::SnapshotPath(room, vv, segmenter::Format::kJson)};
  }

  // GETs `url` as a client does: a "not yet" (404, max-age=1) is asked
  // again after a short pause, 10 s at most. A cache may keep one from an
  // early request for up to ~2 s: nginx counts max-age in whole seconds.
  static HttpResponse GetPastNotYet(const std::string& url, const Headers& headers) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    HttpResponse r = Get(url, headers);
    while (r.status == 404 && r.MaxAge() == 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      r = Get(url, headers);
    }
    return r;
  }
  // The four renditions of `paths` from `base` (the origin's or the cache's
  // URL): .pb and .json, each asked as identity and as gzip. Fails the test
  // unless each is a 200, a gzip answer inflates, and each encoding decodes
  // to the same bytes.
  static std::vector<Rendition> Renditions(const std::string& base, const PathPair& paths) {
    std::vector<Rendition> out;
    for (const std::string& path : {paths.first, paths.second}) {
      std::string identity;
      for (const char* enc : {"identity", "gzip"}) {
        Rendition r{path + " (" + enc + ") from " + base,
                    GetPastNotYet(base + path, {std::string("Accept-Encoding: ") + enc}), ""};
        EXPECT_EQ(r.response.status, 200)
            << r.label << " (cache-control " << r.response.header("cache-control") << ", age "
            << r.response.header("age") << ", x-cache-status "
            << r.response.header("x-cache-status") << "): " << r.response.body;
        if (r.response.header("content-encoding") == "gzip") {
          EXPECT_STREQ(enc, "gzip") << r.label << ": gzip to an identity client";
          r.body = origin::Gunzip(r.response.body);  // "" if not a gzip stream
          EXPECT_FALSE(r.body.empty()) << r.label << ": not a gzip stream";
        } else {
          EXPECT_EQ(r.response.header("content-encoding"), "") << r.label;
          r.body = r.response.body;
        }
        if (identity.empty()) identity = r.body;
        EXPECT_EQ(r.body, identity) << r.label << ": encodings differ";
        out.push_back(std::move(r));
      }
    }
    return out;
  }
  // Renditions of `paths` at the origin and through the cache, both; the
  // cache's bodies must be the origin's.
  std::vector<Rendition> EverywhereRenditions(const PathPair& paths) const {
    std::vector<Rendition> all = Renditions(origin_->url(), paths);
    std::vector<Rendition> cached = Renditions(cache_->url(), paths);
    for (size_t i = 0; i < all.size() && i < cached.size(); ++i)
      EXPECT_EQ(cached[i].body, all[i].body) << cached[i].label << " differs from the origin";
    all.insert(all.end(), cached.begin(), cached.end());
    return all;
  }

  // Polls `base` + `path` until it answers 200 (20 s at most).
  static HttpResponse WaitFor200(const std::string& url) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    HttpResponse r = Get(url);
    while (r.status != 200 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      r = Get(url);
    }
    EXPECT_EQ(r.status, 200) << url;
    return r;
  }
  // Waits until the origin's watermark passes the bucket of now plus
  // `delay_ms` (the room's review delay): every bucket up to now is then
  // published. The bucket of now.
  int64_t WaitUntilPublished(int64_t delay_ms = 0) {
    const int64_t last_k = segmenter::BucketIndex(WallMs(), kBucketMs);
    EXPECT_TRUE(WaitForWatermark(segmenter::BucketEnd(last_k, kBucketMs) + delay_ms,
                                 std::chrono::seconds(30)))
        << "the watermark stays at " << OriginWatermarkMs();
    return last_k;
  }
  // Every segment of [first_k, last_k] as the cache serves it (.pb).
  RoomSegments CachedSegments(const std::string& room, int64_t first_k, int64_t last_k) const {
    RoomSegments out;
    for (int64_t k = first_k; k <= last_k; ++k) {
      HttpResponse r = GetPastNotYet(cache_->url() + segmenter::SegmentPath(room, kBucketMs, k), {});
      v1::ActionSegment seg;
      if (r.status != 200 || !seg.ParseFromString(r.body)) {
        out.problems.push_back("bucket " + std::to_string(k) + ": " +
                               std::to_string(r.status));
        continue;
      }
      out.bytes[k] = r.body;
      out.segments[k] = std::move(seg);
    }
    return out;
  }
  static std::vector<v1::Message> Messages(const RoomSegments& s) { return Actions(s); }

  // The room's manifest through the cache (cleared if it does not answer).
  v1::Manifest CachedManifest(const std::string& room) const {
    v1::Manifest m;
    HttpResponse r = Get(cache_->url() + segmenter::ManifestPath(room));
    if (r.status != 200 || !m.ParseFromString(r.body)) m.Clear();
    return m;
  }
  static uint64_t ComponentVersion(const v1::Manifest& m, const std::string& name) {
    for (const v1::ComponentVersion& c : m.components())
      if (c.name() == name) return c.version();
    return 0;
  }
  // A component's value at version `v` through the cache, as JSON ("" if
  // it does not answer).
  std::string CachedComponent(const std::string& room, const std::string& name,
                              uint64_t v) const {
    HttpResponse r = Get(cache_->url() + StatePaths(room, name, v).first);
    v1::StateComponent sc;
    if (r.status != 200 || !sc.ParseFromString(r.body)) return "";
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(sc.value(), &json);
    return json;
  }
  // The manifest through the cache once `pred` holds of it (the manifest
  // lives max-age=1 in the cache; 20 s at most).
  v1::Manifest WaitForCachedManifest(const std::string& room,
                                     const std::function<bool(const v1::Manifest&)>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    v1::Manifest m = CachedManifest(room);
    while (!pred(m) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      m = CachedManifest(room);
    }
    EXPECT_TRUE(pred(m)) << "through " << cache_->name() << ": " << m.ShortDebugString();
    return m;
  }
  // Through the cache: waits until the manifest lists component `name` with
  // a value (JSON) containing `needle`; returns that value ("" on timeout,
  // with a failure).
  std::string WaitForCachedComponent(const std::string& room, const std::string& name,
                                     const std::string& needle) {
    std::string value;
    WaitForCachedManifest(room, [&](const v1::Manifest& m) {
      const uint64_t v = ComponentVersion(m, name);
      value = v == 0 ? "" : CachedComponent(room, name, v);
      return value.find(needle) != std::string::npos;
    });
    return value;
  }

  TempDir purge_dir_;  // the origin's --purge-secret-file
  std::unique_ptr<Cache> cache_;
  std::string mod_ = Token("mod", v1::ROLE_MODERATOR, "*");
};

inline std::string CacheName(const ::testing::TestParamInfo<Cache::Kind>& info) {
  return info.param == Cache::Kind::kNginx ? "Nginx" : "Varnish";
}

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_CDN_E2E_FIXTURE_H_
