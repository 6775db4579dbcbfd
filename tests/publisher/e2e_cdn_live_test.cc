// DESIGN §10 through real caches: the real publisher pushes each record to
// the real origin as it becomes durable, the origin streams the open bucket,
// and Varnish (from origin/cdn/varnish.vcl) streams one origin response to
// every viewer of the bucket; nginx, which does not stream a fetch to the
// requests waiting on its lock, still serves the bucket as a held one.
//
// Every assertion is on the order of events (a record seen while its
// stream had not ended) or on bytes, never on how long something took.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>


#include "gtest/gtest.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "segmenter/naming.h"
#include "tests/publisher/cdn_e2e_fixture.h"
#include "tests/support/stream_reader.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

// One streamed form of a segment: .pb or .json, identity or gzip.
struct Form {
  segmenter::Format format;
  bool gzip;
  std::string label() const {
    return std::string(format == segmenter::Format::kJson ? ".json" : ".pb") +
           (gzip ? " gzip" : " identity");
  }
  Headers headers() const {
    return {gzip ? "Accept-Encoding: gzip" : "Accept-Encoding: identity"};
  }
};

const Form kForms[] = {{segmenter::Format::kProto, false},
                       {segmenter::Format::kProto, true},
                       {segmenter::Format::kJson, false},
                       {segmenter::Format::kJson, true}};

class CdnLiveE2eTest : public CdnModerationE2eTest {
 protected:
  // The bucket after the current one, once it is less than `lead_ms` away,
  // so a stream asked for it now is held until it starts (the hold limit
  // is 3 s); with a long D the records posted right after it starts land
  // in it with seconds to spare.
  static int64_t NextBucket(int64_t d, int64_t lead_ms = 1500) {
    int64_t k = segmenter::BucketIndex(WallMs(), d) + 1;
    while (segmenter::BucketStart(k, d) - WallMs() > lead_ms) std::this_thread::sleep_for(20ms);
    return k;
  }
  // Opens the room and waits until the origin knows it (its manifest is
  // published at the next round): before that its buckets are "no such
  // room (yet)".
  void OpenLiveRoom(const std::string& room, int64_t d) {
    OpenRoom(room, "{\"bucket_ms\": " + std::to_string(d) + "}");
    WaitFor200(origin_->url() + segmenter::ManifestPath(room));
  }
  static void SleepUntil(int64_t unix_ms) {
    while (WallMs() < unix_ms) std::this_thread::sleep_for(5ms);
  }
  std::unique_ptr<StreamReader> Read(const std::string& base, const std::string& room,
                                     int64_t d, int64_t k, const Form& f) const {
    return std::make_unique<StreamReader>(
        PortOf(base), segmenter::SegmentPath(room, d, k, f.format), f.headers());
  }
  // The stored object as the origin answers it after the close, raw (not
  // inflated), in form `f`.
  HttpResponse Stored(const std::string& room, int64_t d, int64_t k, const Form& f) const {
    return Get(origin_->url() + segmenter::SegmentPath(room, d, k, f.format), f.headers());
  }
  // Posts a comment that must land in bucket k of D; its seq.
  uint64_t PostIn(const std::string& room, const std::string& text, int64_t d, int64_t k) {
    const Ack a = PostComment(room, text);
    EXPECT_NE(a.seq, 0u) << text;
    EXPECT_EQ(segmenter::BucketIndex(a.ts_ms, d), k) << text << " missed its bucket";
    return a.seq;
  }
  static std::vector<uint64_t> Seqs(const v1::ActionSegment& s) {
    std::vector<uint64_t> out;
    for (const v1::Message& m : s.messages()) out.push_back(m.seq());
    return out;
  }
  static auto Has(const std::string& needle) {
    return [needle](const std::string& body) { return body.find(needle) != std::string::npos; };
  }
  // Action GETs that reached the origin (the publisher's PUTs get 201).
  double OriginGets() const {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"") -
           origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"201\"");
  }
};

// Records reach every form of the stream through Varnish before the bucket
// closes; a viewer joining mid-bucket gets the records so far, then the
// rest live; and each complete stream is, byte for byte, the object the
// origin stores (and Varnish then serves from its cache).
TEST_P(CdnLiveE2eTest, RecordsStreamBeforeTheCloseAndTheStreamIsTheStoredObject) {
  constexpr int64_t kD = 5000;
  OpenLiveRoom("live", 5000);
  const int64_t k = NextBucket(kD);
  std::vector<std::unique_ptr<StreamReader>> readers;
  for (const Form& f : kForms) readers.push_back(Read(cache_->url(), "live", kD, k, f));
  SleepUntil(segmenter::BucketStart(k, kD) + 20);
  const uint64_t s1 = PostIn("live", "first-record", kD, k);
  // Identity .pb and .json carry the text as it was posted.
  for (int i : {0, 2}) {
    ASSERT_TRUE(readers[i]->WaitFor(Has("first-record"))) << kForms[i].label();
    EXPECT_EQ(readers[i]->status(), 200);
    EXPECT_FALSE(readers[i]->ended()) << kForms[i].label() << ": the bucket closed already";
    EXPECT_EQ(readers[i]->header("etag"), "") << kForms[i].label();
    EXPECT_EQ(readers[i]->header("cache-control"), "public, max-age=31536000, immutable");
  }
  // The gzip forms have flushed the record: their bytes so far inflate to it.
  for (int i : {1, 3}) {
    ASSERT_TRUE(readers[i]->WaitFor([](const std::string& b) {
      return InflatePrefix(b).find("first-record") != std::string::npos;
    })) << kForms[i].label();
    EXPECT_FALSE(readers[i]->ended()) << kForms[i].label();
    EXPECT_EQ(readers[i]->header("content-encoding"), "gzip");
  }
  // A viewer joining now gets the first record at once and the second live.
  std::unique_ptr<StreamReader> joiner = Read(cache_->url(), "live", kD, k, kForms[0]);
  ASSERT_TRUE(joiner->WaitFor(Has("first-record")));
  EXPECT_FALSE(joiner->ended());
  const uint64_t s2 = PostIn("live", "second-record", kD, k);
  ASSERT_TRUE(joiner->WaitFor(Has("second-record")));
  EXPECT_FALSE(joiner->ended()) << "the second record came only with the close";

  readers.push_back(std::move(joiner));
  for (size_t i = 0; i < readers.size(); ++i) {
    const Form& f = kForms[i % 4];
    ASSERT_TRUE(readers[i]->WaitForFinish(kD * 1ms + 10s)) << f.label();
    EXPECT_TRUE(readers[i]->ended()) << f.label() << ": the stream was cut";
    const HttpResponse stored = Stored("live", kD, k, f);
    ASSERT_EQ(stored.status, 200) << f.label();
    EXPECT_NE(stored.header("etag"), "") << f.label();
    EXPECT_EQ(stored.header("content-length"), std::to_string(stored.body.size())) << f.label();
    EXPECT_EQ(readers[i]->body(), stored.body) << f.label() << ": streamed != stored";
    const HttpResponse cached =
        Get(cache_->url() + segmenter::SegmentPath("live", kD, k, f.format), f.headers());
    EXPECT_EQ(cached.body, stored.body) << f.label() << " as Varnish keeps it";
  }
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(readers[0]->body()));
  EXPECT_EQ(Seqs(seg), (std::vector<uint64_t>{s1, s2}));
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// 200 viewers of one open bucket through Varnish: about one origin request
// for the bucket, and every viewer gets the whole segment.
TEST_P(CdnLiveE2eTest, TwoHundredViewersOfAStreamCostAboutOneOriginRequest) {
  constexpr int64_t kD = 2000;
  constexpr int kViewers = 200;
  OpenLiveRoom("crowd", 2000);
  const int64_t k = NextBucket(kD, 1000);
  const double before = OriginGets();
  std::vector<std::unique_ptr<StreamReader>> viewers;
  for (int i = 0; i < kViewers; ++i) viewers.push_back(Read(cache_->url(), "crowd", kD, k, kForms[0]));
  SleepUntil(segmenter::BucketStart(k, kD) + 20);
  const uint64_t s1 = PostIn("crowd", "to-the-crowd", kD, k);
  for (int i = 0; i < kViewers; ++i) {
    ASSERT_TRUE(viewers[i]->WaitForFinish(kD * 1ms + 15s)) << "viewer " << i;
    ASSERT_TRUE(viewers[i]->ended()) << "viewer " << i;
  }
  EXPECT_LE(OriginGets() - before, 2) << "200 viewers of one stream";
  const HttpResponse stored = Stored("crowd", kD, k, kForms[0]);
  for (int i = 0; i < kViewers; ++i) EXPECT_EQ(viewers[i]->body(), stored.body) << "viewer " << i;
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(stored.body));
  EXPECT_EQ(Seqs(seg), std::vector<uint64_t>{s1});
}

// kill -9 of the publisher mid-bucket: Varnish never keeps a partial
// object, and the restarted publisher completes the bucket with every acked
// record once, in order.
TEST_P(CdnLiveE2eTest, KillNineMidBucketLeavesNoPartialObjectAndTheBucketCompletes) {
  constexpr int64_t kD = 5000;
  OpenLiveRoom("crash", 5000);
  const int64_t k = NextBucket(kD);
  std::vector<std::unique_ptr<StreamReader>> readers;
  for (const Form& f : {kForms[0], kForms[1]}) readers.push_back(Read(cache_->url(), "crash", kD, k, f));
  SleepUntil(segmenter::BucketStart(k, kD) + 20);
  std::vector<uint64_t> acked = {PostIn("crash", "before-the-crash-1", kD, k),
                                 PostIn("crash", "before-the-crash-2", kD, k)};
  ASSERT_TRUE(readers[0]->WaitFor(Has("before-the-crash-2")));
  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  StartPublisher({"--rollup-ms", std::to_string(kRollupMs)});
  acked.push_back(PostIn("crash", "after-the-restart", kD, k));

  for (auto& r : readers) ASSERT_TRUE(r->WaitForFinish(kD * 1ms + 15s));
  const int64_t end = segmenter::BucketEnd(k, kD);
  ASSERT_TRUE(WaitForWatermark(end, 30s)) << "the watermark stays at " << OriginWatermarkMs();
  for (int i = 0; i < 2; ++i) {
    const Form& f = kForms[i];
    const HttpResponse stored = Stored("crash", kD, k, f);
    ASSERT_EQ(stored.status, 200) << f.label();
    // A stream either completed as the object or was cut short of it: its
    // bytes are then a prefix (the re-pushed records are the same bytes).
    if (readers[i]->ended()) {
      EXPECT_EQ(readers[i]->body(), stored.body) << f.label();
    } else {
      EXPECT_TRUE(readers[i]->closed()) << f.label();
      EXPECT_EQ(stored.body.compare(0, readers[i]->body().size(), readers[i]->body()), 0)
          << f.label() << ": a cut stream is not a prefix of the object";
    }
    // What Varnish serves now is the complete object, never a cut copy.
    const HttpResponse cached =
        Get(cache_->url() + segmenter::SegmentPath("crash", kD, k, f.format), f.headers());
    EXPECT_EQ(cached.status, 200) << f.label();
    EXPECT_EQ(cached.body, stored.body) << f.label() << ": Varnish kept another copy";
  }
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(Stored("crash", kD, k, kForms[0]).body));
  EXPECT_EQ(Seqs(seg), acked) << "every acked record once, in order";
  EXPECT_TRUE(segmenter::SplitSegment(Stored("crash", kD, k, kForms[0]).body).ok());
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// A quiet open bucket of D = 10 s outlasts Varnish's default between-bytes
// timeout and completes as the empty segment.
TEST_P(CdnLiveE2eTest, AQuietTenSecondBucketCompletes) {
  constexpr int64_t kD = 10000;
  OpenLiveRoom("quiet", 10000);
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  std::vector<std::unique_ptr<StreamReader>> readers;
  for (const Form& f : {kForms[0], kForms[1]}) readers.push_back(Read(cache_->url(), "quiet", kD, k, f));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(readers[i]->WaitForFinish(kD * 1ms + 15s)) << kForms[i].label();
    EXPECT_TRUE(readers[i]->ended()) << kForms[i].label() << ": a quiet stream was cut";
    EXPECT_EQ(readers[i]->status(), 200);
    EXPECT_EQ(readers[i]->body(), Stored("quiet", kD, k, kForms[i]).body) << kForms[i].label();
  }
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(readers[0]->body()));
  EXPECT_EQ(seg.messages_size(), 0);
  EXPECT_EQ(seg.index(), k);
}

class CdnLiveNginxE2eTest : public CdnLiveE2eTest {};

// Through nginx the same room works as before: the bucket is held until it
// closes, then every viewer gets the complete object, one origin request.
TEST_P(CdnLiveNginxE2eTest, ABucketIsServedAsAHeldOneThroughNginx) {
  constexpr int64_t kD = 2000;
  OpenLiveRoom("held", 2000);
  const int64_t k = NextBucket(kD, 1000);
  const double before = OriginGets();
  std::vector<std::unique_ptr<StreamReader>> viewers;
  for (int i = 0; i < 20; ++i) viewers.push_back(Read(cache_->url(), "held", kD, k, kForms[i % 4]));
  SleepUntil(segmenter::BucketStart(k, kD) + 20);
  const uint64_t s1 = PostIn("held", "through-nginx", kD, k);
  for (int i = 0; i < 20; ++i) {
    const Form& f = kForms[i % 4];
    ASSERT_TRUE(viewers[i]->WaitForFinish(kD * 1ms + 15s)) << f.label();
    EXPECT_TRUE(viewers[i]->ended()) << f.label();
    EXPECT_EQ(viewers[i]->status(), 200) << f.label();
  }
  // About one origin request per form (4 of them).
  EXPECT_LE(OriginGets() - before, 6);
  for (int i = 0; i < 20; ++i) {
    const Form& f = kForms[i % 4];
    EXPECT_EQ(viewers[i]->body(), Stored("held", kD, k, f).body) << f.label();
  }
  v1::ActionSegment seg;
  ASSERT_TRUE(seg.ParseFromString(Stored("held", kD, k, kForms[0]).body));
  EXPECT_EQ(Seqs(seg), std::vector<uint64_t>{s1});
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnLiveE2eTest, ::testing::Values(Cache::Kind::kVarnish),
                         CacheName);
INSTANTIATE_TEST_SUITE_P(Caches, CdnLiveNginxE2eTest, ::testing::Values(Cache::Kind::kNginx),
                         CacheName);

}  // namespace
}  // namespace roomcast::testing
