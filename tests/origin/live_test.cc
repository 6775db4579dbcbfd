// DESIGN §10 at a real roomcast-origin: open buckets pushed with POST
// /v1/live (live.proto) and streamed to readers on raw sockets, so a test
// sees each record arrive before the bucket closes and can tell a complete
// chunked body from one cut without its last chunk.
#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "roomcast/v1/live.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "segmenter/segment.h"
#include "tests/origin/origin_fixture.h"
#include "tests/origin/private_room_fixture.h"
#include "tests/support/caches.h"
#include "tests/support/stream_reader.h"

namespace roomcast::testing {
namespace {

using segmenter::Format;
using segmenter::SegmentPath;

constexpr char kImmutable[] = "public, max-age=31536000, immutable";
constexpr int64_t kD = 10000;


std::vector<std::string> RecordsOf(const v1::ActionSegment& seg) {
  std::vector<std::string> out;
  for (const v1::Message& m : seg.messages()) out.push_back(segmenter::EncodeRecord(m));
  return out;
}

v1::LiveAppend Append(const std::string& room, int64_t d, int64_t k, uint32_t first,
                      const std::vector<std::string>& records) {
  v1::LiveAppend a;
  a.set_room(room);
  a.set_epoch(1);
  a.set_bucket_ms(static_cast<uint32_t>(d));
  a.set_index(k);
  a.set_first(first);
  for (const std::string& r : records) a.add_records(r);
  return a;
}

HttpResponse PostLive(const std::string& url, const std::string& body,
                      const std::string& secret = kWriteSecret) {
  return Fetch("POST", url + "/v1/live", body,
               {absl::StrCat("Authorization: Bearer ", secret),
                "Content-Type: application/x-protobuf"});
}

// Pushes one batch; the reply's acks (none if the POST failed).
std::vector<v1::LiveAck> Push(const std::string& url, const std::vector<v1::LiveAppend>& appends,
                              const std::string& secret = kWriteSecret) {
  v1::LiveBatch batch;
  for (const auto& a : appends) *batch.add_appends() = a;
  HttpResponse r = PostLive(url, batch.SerializeAsString(), secret);
  EXPECT_EQ(r.status, 200) << r.body;
  v1::LiveReply reply;
  EXPECT_TRUE(reply.ParseFromString(r.body));
  return {reply.acks().begin(), reply.acks().end()};
}

// The identity .pb or .json bytes of records [0, n) as streamed.
std::string StreamedPrefix(const std::vector<std::string>& records, size_t n, Format f) {
  std::string out = f == Format::kJson ? std::string(segmenter::JsonHead()) : "";
  for (size_t i = 0; i < n; ++i) {
    out += f == Format::kJson ? *segmenter::JsonRecordFromBytes(records[i], i == 0) : records[i];
  }
  return out;
}

class LiveTest : public OriginTest {
 protected:
  void SetUp() override {
    StartOrigin({"--max-hold-ms", "30000"});
    OpenLiveRoom("live", kD);
  }
  // A room of bucket duration `d`, opened a minute ago, watermark 20 s back.
  void OpenLiveRoom(const std::string& room, int64_t d) {
    ASSERT_EQ(origin_->PutManifest(MakeManifest(room, 1, WallMs() - 60'000,
                                                static_cast<uint32_t>(d)))
                  .status,
              200);
    ASSERT_EQ(origin_->PutWatermark(WallMs() - 20'000).status, 200);
  }
  int port() const { return PortOf(origin_->url()); }
  std::unique_ptr<StreamReader> Read(const std::string& path, bool gzip) {
    std::vector<std::string> h;
    if (gzip) h.push_back("Accept-Encoding: gzip");
    return std::make_unique<StreamReader>(port(), path, h);
  }
};

void ExpectStreamHead(const StreamReader& s, bool gzip, const std::string& room = "live") {
  EXPECT_EQ(s.status(), 200);
  EXPECT_EQ(s.header("transfer-encoding"), "chunked");
  EXPECT_EQ(s.header("cache-control"), kImmutable);
  EXPECT_EQ(s.header("etag"), "");
  EXPECT_EQ(s.header("content-length"), "");
  EXPECT_EQ(s.header("vary"), "Accept-Encoding");
  EXPECT_EQ(s.header("content-encoding"), gzip ? "gzip" : "");
  EXPECT_EQ(s.header("access-control-allow-origin"), "*");
  EXPECT_NE(s.header("xkey").find("bucket/" + room + "/"), std::string::npos) << s.header("xkey");
}

TEST_F(LiveTest, FourFormsStreamRecordsBeforeCloseAndEqualTheStoredObject) {
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const v1::ActionSegment seg = MakeSegment("live", kD, k, 3);
  const std::vector<std::string> records = RecordsOf(seg);
  struct Form {
    Format format;
    bool gzip;
    std::unique_ptr<StreamReader> reader;
  };
  std::vector<Form> forms;
  for (Format f : {Format::kProto, Format::kJson}) {
    for (bool gz : {false, true}) forms.push_back({f, gz, Read(SegmentPath("live", kD, k, f), gz)});
  }
  for (Form& f : forms) {
    ASSERT_TRUE(f.reader->WaitForHead());
    ExpectStreamHead(*f.reader, f.gzip);
  }
  auto acks = Push(origin_->url(), {Append("live", kD, k, 0, {records[0], records[1]})});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_EQ(acks[0].have(), 2u);
  for (Form& f : forms) {
    const std::string want = StreamedPrefix(records, 2, f.format);
    const bool gz = f.gzip;
    EXPECT_TRUE(f.reader->WaitFor([&](const std::string& body) {
      return (gz ? InflatePrefix(body) : body) == want;
    })) << "format " << static_cast<int>(f.format) << " gzip " << gz;
    EXPECT_FALSE(f.reader->ended());
  }
  // The third record was never pushed: the close streams it, then the summary.
  const std::string pb = segmenter::EncodeSegment(seg);
  ASSERT_EQ(origin_->PutObject(SegmentPath("live", kD, k), pb).status, 201);
  for (Form& f : forms) {
    ASSERT_TRUE(f.reader->WaitForFinish());
    EXPECT_TRUE(f.reader->ended());
    HttpResponse after = Get(origin_->url() + SegmentPath("live", kD, k, f.format),
                             f.gzip ? Headers{"Accept-Encoding: gzip"} : Headers{});
    EXPECT_EQ(after.status, 200);
    EXPECT_FALSE(after.header("etag").empty());
    EXPECT_EQ(after.header("content-length"), std::to_string(after.body.size()));
    EXPECT_EQ(after.body, f.reader->body()) << "format " << static_cast<int>(f.format)
                                            << " gzip " << f.gzip;
    const std::string identity = f.format == Format::kJson
                                     ? *segmenter::RenderSegmentJson(pb)
                                     : pb;
    EXPECT_EQ(f.gzip ? InflatePrefix(f.reader->body()) : f.reader->body(), identity);
  }
}

TEST_F(LiveTest, JoinerMidBucketGetsTheRecordsSoFarThenLive) {
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const v1::ActionSegment seg = MakeSegment("live", kD, k, 3);
  const std::vector<std::string> records = RecordsOf(seg);
  auto acks = Push(origin_->url(), {Append("live", kD, k, 0, {records[0], records[1]})});
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_EQ(acks[0].have(), 2u);
  auto joiner = Read(SegmentPath("live", kD, k), false);
  EXPECT_TRUE(joiner->WaitFor(
      [&](const std::string& b) { return b == records[0] + records[1]; }));
  acks = Push(origin_->url(), {Append("live", kD, k, 2, {records[2]})});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].have(), 3u);
  EXPECT_TRUE(joiner->WaitFor(
      [&](const std::string& b) { return b == records[0] + records[1] + records[2]; }));
  EXPECT_FALSE(joiner->ended());
  ASSERT_EQ(origin_->PutObject(SegmentPath("live", kD, k), segmenter::EncodeSegment(seg)).status,
            201);
  ASSERT_TRUE(joiner->WaitForFinish());
  EXPECT_TRUE(joiner->ended());
  EXPECT_EQ(joiner->body(), segmenter::EncodeSegment(seg));
}

TEST_F(LiveTest, EmptyBucketStreamsTheEmptySegmentsSummary) {
  OpenLiveRoom("quiet", 1000);
  const int64_t k = segmenter::BucketIndex(WallMs(), 1000);
  auto reader = Read(SegmentPath("quiet", 1000, k), false);
  ASSERT_TRUE(reader->WaitForHead());
  ExpectStreamHead(*reader, false, "quiet");
  ASSERT_EQ(origin_->PutWatermark(segmenter::BucketEnd(k, 1000)).status, 200);
  ASSERT_TRUE(reader->WaitForFinish());
  EXPECT_TRUE(reader->ended());
  const std::string empty =
      segmenter::EncodeSegment(segmenter::EmptySegment("quiet", 1, 1000, k));
  EXPECT_EQ(reader->body(), empty);
  HttpResponse after = Get(origin_->url() + SegmentPath("quiet", 1000, k));
  EXPECT_EQ(after.body, empty);
  EXPECT_FALSE(after.header("etag").empty());
}

TEST_F(LiveTest, ConflictingRePushCutsTheStreamsAndIsRefused) {
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("live", kD, k, 2));
  const std::vector<std::string> other = RecordsOf(MakeSegment("live", kD, k, 2, 100));
  ASSERT_EQ(Push(origin_->url(), {Append("live", kD, k, 0, records)})[0].have(), 2u);
  auto reader = Read(SegmentPath("live", kD, k, Format::kJson), true);
  ASSERT_TRUE(reader->WaitFor([](const std::string& b) { return !b.empty(); }));
  auto acks = Push(origin_->url(), {Append("live", kD, k, 1, {other[1]})});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].refused());
  EXPECT_EQ(acks[0].reason(), "record differs from one already streamed");
  ASSERT_TRUE(reader->WaitForFinish());
  EXPECT_TRUE(reader->closed());
  EXPECT_FALSE(reader->ended());
  EXPECT_GE(origin_->Metric("roomcast_origin_live_conflicts_total"), 1);
}

TEST_F(LiveTest, RestartLosesOpenBucketsAndThePublisherPushesAgainFromZero) {
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("live", kD, k, 4));
  ASSERT_EQ(Push(origin_->url(), {Append("live", kD, k, 0, {records[0], records[1]})})[0].have(),
            2u);
  auto cut = Read(SegmentPath("live", kD, k), false);
  ASSERT_TRUE(cut->WaitFor([&](const std::string& b) { return b == records[0] + records[1]; }));
  // SIGTERM ends the stream without its last chunk, and the origin exits.
  EXPECT_EQ(origin_->Stop(SIGTERM), 0);
  ASSERT_TRUE(cut->WaitForFinish());
  EXPECT_FALSE(cut->ended());
  ASSERT_TRUE(origin_->Start());
  auto acks = Push(origin_->url(), {Append("live", kD, k, 2, {records[2]})});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_EQ(acks[0].have(), 0u);
  acks = Push(origin_->url(), {Append("live", kD, k, 0, records)});
  EXPECT_EQ(acks[0].have(), 4u);
  auto reader = Read(SegmentPath("live", kD, k), false);
  EXPECT_TRUE(reader->WaitFor([&](const std::string& b) {
    return b == records[0] + records[1] + records[2] + records[3];
  }));
  // The publisher restarting too re-pushes what the origin has: a no-op.
  acks = Push(origin_->url(), {Append("live", kD, k, 0, records)});
  EXPECT_FALSE(acks[0].refused());
  EXPECT_EQ(acks[0].have(), 4u);
}

TEST_F(LiveTest, PushesNeedTheSecretBeforeTheBodyAndAreBounded) {
  const std::string head = "POST /v1/live HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n";
  EXPECT_EQ(RawExchange(port(), head + "\r\n").substr(0, 12), "HTTP/1.1 401");
  EXPECT_EQ(RawExchange(port(), head + "Authorization: Bearer wrong\r\n\r\n").substr(0, 12),
            "HTTP/1.1 401");
  EXPECT_EQ(PostLive(origin_->url(), std::string((4 << 20) + 1, 'x')).status, 413);
  EXPECT_EQ(PostLive(origin_->url(), "\xff\xff\xff").status, 400);
  v1::LiveBatch many;
  for (int i = 0; i < 4097; ++i) many.add_appends()->set_room("live");
  EXPECT_EQ(PostLive(origin_->url(), many.SerializeAsString()).status, 400);
  // A bad record is refused for its append only.
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("live", kD, k, 1));
  auto acks = Push(origin_->url(), {Append("live", kD, k, 0, {"\x08\x01"}),
                                    Append("live", kD, k, 0, records),
                                    Append("live", kD, k + 100, 0, records),
                                    Append("live", kD, k - 10, 0, records)});
  ASSERT_EQ(acks.size(), 4u);
  EXPECT_TRUE(acks[0].refused());
  EXPECT_FALSE(acks[1].refused()) << acks[1].reason();
  EXPECT_EQ(acks[1].have(), 1u);
  EXPECT_TRUE(acks[2].refused());  // too far ahead
  EXPECT_TRUE(acks[3].refused());  // closed
}

TEST_F(LiveTest, AForeignPublishersSecretIsRefusedPerAppend) {
  TempDir secrets_dir;
  const std::string secrets = secrets_dir.path() + "/publisher_secrets";
  {
    std::ofstream(secrets) << "pub-1 secret-one\npub-2 secret-two\n";
  }
  StartOrigin({"--max-hold-ms", "30000", "--publisher-secrets-file", secrets});
  OpenLiveRoom("live", kD);
  v1::Manifest other = MakeManifest("theirs", 1, WallMs() - 60'000, kD);
  other.set_publisher("pub-2");
  ASSERT_EQ(origin_->PutManifest(other).status, 200);
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("live", kD, k, 1));
  auto acks = Push(origin_->url(), {Append("theirs", kD, k, 0, records),
                                    Append("live", kD, k, 0, records)},
                   "secret-one");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(acks[0].refused());
  EXPECT_EQ(acks[0].reason(), "this room is published by another publisher");
  EXPECT_FALSE(acks[1].refused()) << acks[1].reason();
  EXPECT_EQ(acks[1].have(), 1u);
}

// A room's first record is often pushed before its manifest reaches the
// origin: that takes nothing but refuses nothing, so the same bucket is
// streamed once the manifest is there.
TEST_F(LiveTest, APushBeforeTheRoomsManifestIsNotTakenButNotRefused) {
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("early", kD, k, 2));
  auto acks = Push(origin_->url(), {Append("early", kD, k, 0, {records[0]})});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_EQ(acks[0].have(), 0u);
  OpenLiveRoom("early", kD);
  acks = Push(origin_->url(), {Append("early", kD, k, 0, records)});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_EQ(acks[0].have(), 2u);
  std::unique_ptr<StreamReader> s = Read(segmenter::SegmentPath("early", kD, k), false);
  ASSERT_TRUE(s->WaitFor([&](const std::string& b) { return b == records[0] + records[1]; }));
  EXPECT_FALSE(s->ended());
}

TEST_F(LiveTest, BeyondMaxLiveBucketsANewBucketIsRefusedOriginFull) {
  StartOrigin({"--max-hold-ms", "30000", "--max-live-buckets", "1"});
  OpenLiveRoom("other", kD);
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const std::vector<std::string> records = RecordsOf(MakeSegment("live", kD, k, 1));
  const std::vector<std::string> others = RecordsOf(MakeSegment("other", kD, k, 1));
  auto acks = Push(origin_->url(), {Append("live", kD, k, 0, records),
                                    Append("other", kD, k, 0, others)});
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_TRUE(acks[1].refused());
  EXPECT_EQ(acks[1].reason(), "origin full");
  EXPECT_GE(origin_->Metric("roomcast_origin_live_full_total"), 1);
  // Its segment's PUT is unaffected, and then its readers get it whole.
  const std::string pb = segmenter::EncodeSegment(MakeSegment("other", kD, k, 1));
  ASSERT_EQ(origin_->PutObject(SegmentPath("other", kD, k), pb).status, 201);
  HttpResponse got = Get(origin_->url() + SegmentPath("other", kD, k));
  EXPECT_EQ(got.body, pb);
  EXPECT_FALSE(got.header("etag").empty());
}

TEST_F(LiveTest, AStreamNeverClosedEndsWithoutItsLastChunkAfterTheHoldLimit) {
  StartOrigin({"--max-hold-ms", "300"});
  OpenLiveRoom("stall", 1000);
  const int64_t k = segmenter::BucketIndex(WallMs(), 1000);
  const std::vector<std::string> records = RecordsOf(MakeSegment("stall", 1000, k, 1));
  auto reader = Read(SegmentPath("stall", 1000, k), false);
  ASSERT_TRUE(reader->WaitForHead());
  ASSERT_EQ(reader->status(), 200);
  auto acks = Push(origin_->url(), {Append("stall", 1000, k, 0, records)});
  ASSERT_EQ(acks.size(), 1u);
  // The bucket may have ended (and its hold limit passed) before the push.
  if (!acks[0].refused()) {
    EXPECT_TRUE(reader->WaitFor([&](const std::string& b) { return b == records[0]; }));
  }
  ASSERT_TRUE(reader->WaitForFinish());
  EXPECT_TRUE(reader->closed());
  EXPECT_FALSE(reader->ended());
}

// DESIGN §12: a private room's open bucket streams only with an edge token,
// and no shared cache past the edge may keep it.
class LivePrivateTest : public PrivateRoomFixture {};

TEST_F(LivePrivateTest, APrivateRoomsOpenBucketStreamsOnlyWithAnEdgeToken) {
  StoreRoom(1);
  const int64_t k = segmenter::BucketIndex(WallMs(), 1000);
  const std::string path =
      SegmentPath("vip", 1000, k, Format::kProto, segmenter::Scope::kPrivate);
  StreamReader refused(PortOf(origin_->url()), path, {"Connection: close"});
  ASSERT_TRUE(refused.WaitForFinish());
  EXPECT_EQ(refused.status(), 401);
  StreamReader reader(PortOf(origin_->url()), path + "?rc_token=" + Token("vip"));
  ASSERT_TRUE(reader.WaitForHead());
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.header("transfer-encoding"), "chunked");
  EXPECT_EQ(reader.header("cache-control"), "private, max-age=31536000, immutable");
  EXPECT_EQ(reader.header("cdn-cache-control"), kImmutable);
  const v1::ActionSegment seg = MakeSegment("vip", 1000, k, 1);
  const std::vector<std::string> records = RecordsOf(seg);
  auto acks = Push(origin_->url(), {Append("vip", 1000, k, 0, records)});
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].refused()) << acks[0].reason();
  EXPECT_TRUE(reader.WaitFor([&](const std::string& b) { return b == records[0]; }));
  const std::string pb = segmenter::EncodeSegment(seg);
  ASSERT_EQ(origin_->PutObject(path, pb).status, 201);
  ASSERT_TRUE(reader.WaitForFinish());
  EXPECT_TRUE(reader.ended());
  EXPECT_EQ(reader.body(), pb);
}

// DESIGN §10 behind the reference Varnish: one origin request per encoding
// feeds every viewer of it, record by record, before the bucket closes, and
// identity viewers are not held until the end.
TEST_F(LiveTest, VarnishStreamsEachEncodingToItsViewersFromOneOriginRequest) {
  Cache varnish(Cache::Kind::kVarnish, origin_->url().substr(std::string("http://").size()));
  ASSERT_TRUE(varnish.Start());
  const int64_t k = segmenter::BucketIndex(WallMs(), kD);
  const v1::ActionSegment seg = MakeSegment("live", kD, k, 2);
  const std::vector<std::string> records = RecordsOf(seg);
  const std::string path = SegmentPath("live", kD, k);
  auto origin_gets = [&] {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"200\"");
  };
  const double before = origin_gets();
  std::vector<std::pair<bool, std::unique_ptr<StreamReader>>> viewers;
  for (bool gz : {false, true, false, true}) {
    std::vector<std::string> h;
    if (gz) h.push_back("Accept-Encoding: gzip");
    viewers.emplace_back(gz, std::make_unique<StreamReader>(PortOf(varnish.url()), path, h));
  }
  for (auto& [gz, v] : viewers) {
    ASSERT_TRUE(v->WaitForHead());
    EXPECT_EQ(v->status(), 200);
  }
  ASSERT_EQ(Push(origin_->url(), {Append("live", kD, k, 0, {records[0]})})[0].have(), 1u);
  for (auto& [gz, v] : viewers) {
    const bool g = gz;
    EXPECT_TRUE(v->WaitFor([&](const std::string& b) {
      return (g ? InflatePrefix(b) : b) == records[0];
    })) << "gzip " << g;
    EXPECT_FALSE(v->ended());
  }
  const std::string pb = segmenter::EncodeSegment(seg);
  ASSERT_EQ(origin_->PutObject(path, pb).status, 201);
  for (auto& [gz, v] : viewers) {
    ASSERT_TRUE(v->WaitForFinish());
    EXPECT_TRUE(v->ended());
    EXPECT_EQ(gz ? InflatePrefix(v->body()) : v->body(), pb) << "gzip " << gz;
  }
  const double reached = origin_gets() - before;
  EXPECT_GE(reached, 1);
  EXPECT_LE(reached, 2);  // one fetch per encoding
}

}  // namespace
}  // namespace roomcast::testing
