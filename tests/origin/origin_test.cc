// roomcast-origin against DESIGN §4, row by row: the real binary on
// 127.0.0.1, driven with libcurl.
#include <signal.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "auth/jwt.h"
#include "base/crypto.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::Format;
using segmenter::SegmentPath;

constexpr char kImmutable[] = "public, max-age=31536000, immutable";

void ExpectCors(const HttpResponse& r) {
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-expose-headers"), "Age, Date, ETag");
  EXPECT_FALSE(r.header("date").empty());
}

TEST_F(OriginTest, ManifestIsNotFoundBrieflyThenServedForOneSecond) {
  const std::string url = origin_->url() + segmenter::ManifestPath("lobby");
  HttpResponse before = Get(url);
  EXPECT_EQ(before.status, 404);
  EXPECT_EQ(before.header("cache-control"), "public, max-age=1");
  ExpectCors(before);

  v1::Manifest m = MakeManifest("lobby", 3, WallMs());
  ASSERT_EQ(origin_->PutManifest(m).status, 200);
  HttpResponse after = Get(url);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.header("cache-control"), "public, max-age=1");
  EXPECT_EQ(after.header("content-type"), "application/x-protobuf");
  EXPECT_EQ(after.header("etag"), "\"" + Encode(m).digest + "\"");
  EXPECT_EQ(after.body, Encode(m).bytes);
  ExpectCors(after);

  HttpResponse json = Get(origin_->url() + segmenter::ManifestPath("lobby", Format::kJson));
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.header("content-type"), "application/json");
  EXPECT_NE(json.body.find("\"server_time_ms\""), std::string::npos) << json.body;
  EXPECT_NE(json.body.find("\"publisher\":\"pub-1\""), std::string::npos) << json.body;
}

TEST_F(OriginTest, SegmentIsImmutableWithStrongEtagAnd304) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  v1::ActionSegment seg = MakeSegment("lobby", 1000, k, 20);
  const std::string path = SegmentPath("lobby", 1000, k);
  EXPECT_EQ(origin_->PutObject(path, Encode(seg).bytes).status, 201);

  HttpResponse r = Get(origin_->url() + path);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Encode(seg).bytes);
  EXPECT_EQ(r.header("cache-control"), kImmutable);
  const std::string etag = "\"" + Encode(seg).digest + "\"";
  EXPECT_EQ(r.header("etag"), etag);
  EXPECT_EQ(r.header("vary"), "Accept-Encoding");
  ExpectCors(r);

  HttpResponse not_modified = Get(origin_->url() + path, {"If-None-Match: " + etag});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());
  EXPECT_EQ(not_modified.header("etag"), etag);

  HttpResponse head = Fetch("HEAD", origin_->url() + path);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(head.header("etag"), etag);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(OriginTest, GzipHasItsOwnStrongEtag) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  v1::ActionSegment seg = MakeSegment("lobby", 1000, k, 50);
  const std::string path = SegmentPath("lobby", 1000, k);
  ASSERT_EQ(origin_->PutObject(path, Encode(seg).bytes).status, 201);
  HttpResponse gz = Get(origin_->url() + path, {"Accept-Encoding: gzip"});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_LT(gz.body.size(), Encode(seg).bytes.size());
  EXPECT_EQ(gz.header("etag"), "\"" + Encode(seg).digest + ".gz\"");
  EXPECT_EQ(gz.header("vary"), "Accept-Encoding");
  HttpResponse identity = Get(origin_->url() + path, {"Accept-Encoding: gzip;q=0"});
  EXPECT_TRUE(identity.header("content-encoding").empty());
  EXPECT_EQ(identity.body, Encode(seg).bytes);
  // The identity validator does not match the gzip variant.
  HttpResponse cross = Get(origin_->url() + path,
                           {"Accept-Encoding: gzip",
                            "If-None-Match: \"" + Encode(seg).digest + "\""});
  EXPECT_EQ(cross.status, 200);
}

TEST_F(OriginTest, JsonRenditionUsesProtoFieldNames) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  v1::ActionSegment seg = MakeSegment("lobby", 1000, k, 2);
  ASSERT_EQ(origin_->PutObject(SegmentPath("lobby", 1000, k), Encode(seg).bytes).status, 201);
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, k, Format::kJson));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("cache-control"), kImmutable);
  EXPECT_NE(r.body.find("\"ts_ms\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"first_seq\":\"1\""), std::string::npos) << r.body;
  EXPECT_EQ(r.header("etag"), "\"" + Encode(seg).digest + ".json\"");
}

TEST_F(OriginTest, IdenticalPutIsANoOpAndAChangeIsRefused) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  const std::string path = SegmentPath("lobby", 1000, k);
  const std::string bytes = Encode(MakeSegment("lobby", 1000, k, 3)).bytes;
  EXPECT_EQ(origin_->PutObject(path, bytes).status, 201);
  EXPECT_EQ(origin_->PutObject(path, bytes).status, 200);
  HttpResponse conflict = origin_->PutObject(path, Encode(MakeSegment("lobby", 1000, k, 4)).bytes);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_NE(conflict.body.find("\"error\":\"immutable\""), std::string::npos);
  EXPECT_EQ(Get(origin_->url() + path).body, bytes);
  EXPECT_EQ(origin_->Metric("roomcast_origin_immutable_conflicts_total"), 1);
}

TEST_F(OriginTest, WritesNeedTheSecretAndStoreNothingWithout) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 30;
  const std::string path = SegmentPath("lobby", 1000, k);
  const std::string bytes = Encode(MakeSegment("lobby", 1000, k, 3)).bytes;
  EXPECT_EQ(Put(origin_->url() + path, bytes).status, 401);
  EXPECT_EQ(Put(origin_->url() + path, bytes, {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Put(origin_->url() + path, bytes,
                {std::string("Authorization: Bearer ") + kWriteSecret + "x"}).status, 401);
  // Not stored: the closed bucket is served as the synthesized empty segment.
  v1::ActionSegment got;
  ASSERT_TRUE(got.ParseFromString(Get(origin_->url() + path).body));
  EXPECT_EQ(got.messages_size(), 0);
}

TEST_F(OriginTest, ClosedEmptyBucketIsSynthesizedAndImmutable) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 30;
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, k));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("cache-control"), kImmutable);
  v1::ActionSegment got;
  ASSERT_TRUE(got.ParseFromString(r.body));
  EXPECT_EQ(got.room(), "lobby");
  EXPECT_EQ(got.index(), k);
  EXPECT_EQ(got.bucket_ms(), 1000u);
  EXPECT_EQ(got.messages_size(), 0);
  EXPECT_EQ(r.header("etag"), "\"" + base::Sha256Hex(r.body) + "\"");
  // And a late upload for that bucket is refused: it may have been served.
  EXPECT_EQ(origin_->PutObject(SegmentPath("lobby", 1000, k),
                               Encode(MakeSegment("lobby", 1000, k, 1)).bytes).status, 409);
}

// An open bucket streams (DESIGN §10, live_test.cc): held until it starts,
// its body ends when its segment arrives.
TEST_F(OriginTest, HeldRequestIsAnsweredWhenTheSegmentArrives) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;  // ends within 2 s
  const std::string path = SegmentPath("lobby", 1000, k);
  const std::string bytes = segmenter::EncodeSegment(MakeSegment("lobby", 1000, k, 5));
  auto held = std::async(std::launch::async, [&] { return Get(origin_->url() + path); });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(origin_->Metric("roomcast_origin_held_requests"), 1);
  const auto put_at = std::chrono::steady_clock::now();
  ASSERT_EQ(origin_->PutObject(path, bytes).status, 201);
  HttpResponse r = held.get();
  const auto answered_in = std::chrono::steady_clock::now() - put_at;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, bytes);
  EXPECT_EQ(r.header("cache-control"), kImmutable);
  EXPECT_GE(r.seconds, 0.25);
  EXPECT_LT(answered_in, 500ms);
}

TEST_F(OriginTest, HeldRequestIsAnsweredEmptyWhenTheWatermarkPasses) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;
  const std::string path = SegmentPath("lobby", 1000, k);
  auto held = std::async(std::launch::async, [&] { return Get(origin_->url() + path); });
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(origin_->PutWatermark(segmenter::BucketEnd(k, 1000)).status, 200);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 200);
  v1::ActionSegment got;
  ASSERT_TRUE(got.ParseFromString(r.body));
  EXPECT_EQ(got.index(), k);
  EXPECT_EQ(got.messages_size(), 0);
  EXPECT_LT(r.seconds, 2.0);
}

TEST_F(OriginTest, StalledPublisherGetsAShortCacheableNotYet) {
  StartOrigin({"--max-hold-ms", "400"});
  OpenRoom("lobby");
  // Ended two seconds ago, but the publisher never closed it.
  const int64_t k = BucketIndex(WallMs() - 2000, 1000);
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, k));
  EXPECT_EQ(r.status, 404);
  // Cacheable for a second, never no-store: see DESIGN §4 "CDN traps".
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_GE(r.seconds, 0.35);
  EXPECT_LT(r.seconds, 2.0);
}

TEST_F(OriginTest, ReviewDelayKeepsBucketsOpenBehindTheWatermark) {
  StartOrigin({"--max-hold-ms", "400"});
  OpenRoom("lobby");  // the publisher's watermark: 20 s ago
  const int64_t w = WallMs() - 20'000;
  ASSERT_EQ(origin_->PutWatermark(w).status, 200);
  v1::Manifest m = MakeManifest("lobby", 2, opened_ms_);
  m.set_review_delay_ms(10'000);
  m.set_watermark_ms(w - 12'000);  // what the room itself closed
  ASSERT_EQ(origin_->PutManifest(m).status, 200);
  // Inside the delay: not closed, a short cacheable "not yet".
  const int64_t held = BucketIndex(w - 6'000, 1000);
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, held));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  // ... and its object is still welcome, where a closed bucket refuses one.
  EXPECT_EQ(origin_->PutObject(SegmentPath("lobby", 1000, held),
                               Encode(MakeSegment("lobby", 1000, held, 1)).bytes).status, 201);
  // Past the delay: closed (empty).
  const int64_t closed = BucketIndex(w - 11'000, 1000) - 1;
  HttpResponse e = Get(origin_->url() + SegmentPath("lobby", 1000, closed));
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.header("cache-control"), kImmutable);
}

TEST_F(OriginTest, FarFutureBucketIsNotFoundForOneSecondAtOnce) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) + 60;
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, k));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_LT(r.seconds, 0.5);
}

TEST_F(OriginTest, BeforeTheRoomExistedIsNotFoundForAMinute) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(opened_ms_, 1000) - 5;
  HttpResponse r = Get(origin_->url() + SegmentPath("lobby", 1000, k));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=60");
  // Another bucket duration than the room's never exists either.
  HttpResponse other = Get(origin_->url() + SegmentPath("lobby", 250, 4 * k));
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.header("cache-control"), "public, max-age=60");
}

TEST_F(OriginTest, ManifestAfterHoldsUntilANewerVersion) {
  const int64_t opened = WallMs();
  ASSERT_EQ(origin_->PutManifest(MakeManifest("lobby", 5, opened)).status, 200);
  const std::string url = origin_->url() + segmenter::ManifestPath("lobby") + "?after=5";
  auto held = std::async(std::launch::async, [&] { return Get(url); });
  std::this_thread::sleep_for(300ms);
  v1::Manifest next = MakeManifest("lobby", 6, opened);
  ASSERT_EQ(origin_->PutManifest(next).status, 200);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Encode(next).bytes);
  EXPECT_GE(r.seconds, 0.25);
  EXPECT_LT(r.seconds, 2.0);
  // Already newer: answered at once.
  HttpResponse now = Get(origin_->url() + segmenter::ManifestPath("lobby") + "?after=2");
  EXPECT_EQ(now.status, 200);
  EXPECT_LT(now.seconds, 0.5);
  // A stale manifest version is refused.
  EXPECT_EQ(origin_->PutManifest(MakeManifest("lobby", 4, opened)).status, 409);
  EXPECT_EQ(Get(origin_->url() + "/v1/rooms/lobby/manifest.pb?after=x").status, 400);
}

TEST_F(OriginTest, ManifestAfterAnswersTheCurrentOneAtTheHoldLimit) {
  StartOrigin({"--max-hold-ms", "300"});
  ASSERT_EQ(origin_->PutManifest(MakeManifest("lobby", 5, WallMs())).status, 200);
  HttpResponse r = Get(origin_->url() + "/v1/rooms/lobby/manifest.pb?after=5");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_GE(r.seconds, 0.25);
}

TEST_F(OriginTest, StateAndSnapshotAreImmutableOnceWritten) {
  OpenRoom("lobby");
  const std::string path = segmenter::StatePath("lobby", "title", 1);
  HttpResponse before = Get(origin_->url() + path);
  EXPECT_EQ(before.status, 404);
  EXPECT_EQ(before.header("cache-control"), "public, max-age=1");
  v1::StateComponent c;
  c.set_room("lobby");
  c.set_name("title");
  c.set_version(1);
  c.mutable_value()->set_string_value("Hello");
  EXPECT_EQ(origin_->PutObject(path, Encode(c).bytes).status, 201);
  HttpResponse after = Get(origin_->url() + path);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.header("cache-control"), kImmutable);
  // A component under the wrong path is refused.
  EXPECT_EQ(origin_->PutObject(segmenter::StatePath("lobby", "title", 2), Encode(c).bytes).status,
            400);
  v1::StateSnapshot s;
  s.set_room("lobby");
  s.set_total_version(1);
  *s.add_components() = c;
  EXPECT_EQ(origin_->PutObject(segmenter::SnapshotPath("lobby", 1), Encode(s).bytes).status, 201);
  EXPECT_EQ(Get(origin_->url() + segmenter::SnapshotPath("lobby", 1)).header("cache-control"),
            kImmutable);
}

std::string Token(const std::string& user, const std::string& room, int64_t ttl_s = 600) {
  return "Authorization: Bearer " +
         auth::MintJwt({.sub = user, .role = v1::ROLE_AUDIENCE, .room = room,
                        .exp = WallMs() / 1000 + ttl_s},
                       kJwtSecret);
}

TEST_F(OriginTest, PeerObjectIsReadableOnlyWithItsUsersToken) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  v1::PeerBatch b;
  b.set_room("lobby");
  b.set_user("alice");
  b.set_bucket_ms(1000);
  b.set_index(k);
  b.add_messages()->mutable_comment()->set_text("thanks for the rose, alice");
  const std::string path = segmenter::PeerPath("lobby", "alice", 1000, k);
  ASSERT_EQ(origin_->PutObject(path, Encode(b).bytes).status, 201);

  HttpResponse mine = Get(origin_->url() + path, {Token("alice", "lobby")});
  EXPECT_EQ(mine.status, 200);
  EXPECT_EQ(mine.body, Encode(b).bytes);
  EXPECT_EQ(mine.header("cache-control"), "private, no-store");
  // An audience token may not name every room: refused as a bad token.
  EXPECT_EQ(Get(origin_->url() + path, {Token("alice", "*")}).status, 401);

  for (const auto& [token, status] : std::vector<std::pair<std::string, long>>{
           {Token("bob", "lobby"), 403},         // another user's token
           {Token("alice", "other-room"), 403},  // another room's token
           {Token("alice", "lobby", -60), 401},  // expired
           {"Authorization: Bearer " + auth::MintJwt({.sub = "alice", .room = "lobby",
                                                      .exp = WallMs() / 1000 + 60},
                                                     "wrong-secret"),
            401},
       }) {
    HttpResponse r = Get(origin_->url() + path, {token});
    EXPECT_EQ(r.status, status) << token;
    EXPECT_EQ(r.body.find("rose"), std::string::npos);
    EXPECT_EQ(r.header("cache-control"), "private, no-store");
  }
  // A closed bucket without a peer object: an empty batch, still private.
  HttpResponse empty = Get(origin_->url() + segmenter::PeerPath("lobby", "alice", 1000, k - 30),
                           {Token("alice", "lobby")});
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.header("cache-control"), "private, no-store");
}

TEST_F(OriginTest, PeerObjectsAreNeverCacheableAndNeedAToken) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  HttpResponse r = Get(origin_->url() + segmenter::PeerPath("lobby", "alice", 1000, k));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("cache-control"), "private, no-store");
  HttpResponse bad = Get(origin_->url() + segmenter::PeerPath("lobby", "alice", 1000, k),
                         {"Authorization: Bearer not-a-jwt"});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.header("cache-control"), "private, no-store");
}

TEST_F(OriginTest, BadInputGetsA4xxAndChangesNothing) {
  OpenRoom("lobby");
  const std::string auth = std::string("Authorization: Bearer ") + kWriteSecret;
  struct Case {
    std::string method, path;
    long status;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/v1/rooms/../../etc/passwd", 400},
           {"GET", "/v1/rooms/lobby/../other/manifest.pb", 404},
           {"GET", "/v1/rooms/lob%00by/manifest.pb", 400},
           {"GET", "/v1/rooms/lobby/actions/1000/007.pb", 400},
           {"GET", "/v1/rooms/lobby/actions/1000/-1.pb", 400},
           {"GET", "/v1/rooms/" + std::string(65, 'a') + "/manifest.pb", 400},
           {"GET", "/nope", 404},
           {"DELETE", "/v1/rooms/lobby/manifest.pb", 405},
           {"POST", "/v1/rooms/lobby/manifest.pb", 405},
           {"PUT", "/v1/rooms/lobby/manifest.json", 405},
           {"PUT", "/v1/rooms/lobby/peer/alice/key", 404},
       }) {
    HttpResponse r = Fetch(c.method, origin_->url() + c.path, "x", {auth});
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << ": " << r.body;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << c.path;
  }
  // Garbage and oversized bodies.
  const std::string seg = SegmentPath("lobby", 1000, BucketIndex(WallMs(), 1000) - 30);
  EXPECT_EQ(origin_->PutObject(seg, std::string("\xff\xff\xff\xff\x0f", 5)).status, 400);
  EXPECT_EQ(origin_->PutObject(seg, std::string(17 << 20, 'a')).status, 413);
  // Raw protocol abuse: an encoded NUL in the request line, a bogus method.
  const int port = PortOf(origin_->url());
  EXPECT_NE(RawExchange(port, "GET /v1/rooms/a\0b/manifest.pb HTTP/1.1\r\n\r\n"s).find("HTTP/1.1 4"),
            std::string::npos);
  EXPECT_NE(RawExchange(port, "BREW /v1/rooms/a/manifest.pb HTTP/1.1\r\nHost: x\r\n\r\n")
                .find("HTTP/1.1 4"),
            std::string::npos);
  // Nothing was stored, and the origin is alive.
  v1::ActionSegment got;
  ASSERT_TRUE(got.ParseFromString(Get(origin_->url() + seg).body));
  EXPECT_EQ(got.messages_size(), 0);
  EXPECT_EQ(Get(origin_->url() + "/healthz").status, 200);
  EXPECT_EQ(origin_->Metric("roomcast_origin_objects_stored_total"), 0);
}

TEST_F(OriginTest, SlowHeadersAreCutOff) {
  StartOrigin({"--read-timeout-ms", "500"});
  const int port = PortOf(origin_->url());
  const auto t0 = std::chrono::steady_clock::now();
  std::string got = RawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 20s);
  EXPECT_EQ(got.find("200 OK"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(OriginTest, DataSurvivesARestartAndAKill) {
  OpenRoom("lobby");
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  const std::string path = SegmentPath("lobby", 1000, k);
  const std::string bytes = Encode(MakeSegment("lobby", 1000, k, 7)).bytes;
  ASSERT_EQ(origin_->PutObject(path, bytes).status, 201);
  EXPECT_EQ(origin_->Stop(SIGTERM), 0);  // clean exit on SIGTERM
  ASSERT_TRUE(origin_->Start());
  EXPECT_EQ(Get(origin_->url() + path).body, bytes);
  EXPECT_EQ(Get(origin_->url() + segmenter::ManifestPath("lobby")).status, 200);
  // The watermark survived too: a closed empty bucket is still closed.
  EXPECT_EQ(Get(origin_->url() + SegmentPath("lobby", 1000, k - 30)).status, 200);

  const int64_t k2 = k + 1;
  const std::string bytes2 = Encode(MakeSegment("lobby", 1000, k2, 2, 8)).bytes;
  ASSERT_EQ(origin_->PutObject(SegmentPath("lobby", 1000, k2), bytes2).status, 201);
  origin_->Stop(SIGKILL);
  ASSERT_TRUE(origin_->Start());
  EXPECT_EQ(Get(origin_->url() + SegmentPath("lobby", 1000, k2)).body, bytes2);
}

TEST_F(OriginTest, SigtermAnswersHeldRequestsAndExitsCleanly) {
  OpenRoom("lobby");
  // Starts in 1 to 2 s: held until then (a stream cut by SIGTERM: live_test.cc).
  const int64_t k = BucketIndex(WallMs(), 1000) + 2;
  auto held = std::async(std::launch::async, [&] {
    return Get(origin_->url() + SegmentPath("lobby", 1000, k));
  });
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(origin_->Stop(SIGTERM), 0);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 404);  // "not yet", cacheable for a second
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

TEST_F(OriginTest, RetentionRemovesExpiredObjects) {
  StartOrigin({"--retention-sweep-s", "1"});
  const int64_t now = WallMs();
  ASSERT_EQ(origin_->PutManifest(MakeManifest("brief", 1, now - 60'000, 1000, 1)).status, 200);
  ASSERT_EQ(origin_->PutWatermark(now - 5000).status, 200);
  v1::StateComponent c;
  c.set_room("brief");
  c.set_name("title");
  c.set_version(1);
  const std::string path = segmenter::StatePath("brief", "title", 1);
  ASSERT_EQ(origin_->PutObject(path, Encode(c).bytes).status, 201);
  EXPECT_EQ(Get(origin_->url() + path).status, 200);
  HttpResponse gone;
  for (int i = 0; i < 50; ++i) {  // swept within ~2 s; bounded at 5 s
    std::this_thread::sleep_for(100ms);
    gone = Get(origin_->url() + path);
    if (gone.status == 404) break;
  }
  EXPECT_EQ(gone.status, 404);
  // A bucket past retention is a lasting 404.
  const int64_t old_k = BucketIndex(now - 30'000, 1000);
  HttpResponse old = Get(origin_->url() + SegmentPath("brief", 1000, old_k));
  EXPECT_EQ(old.status, 404);
  EXPECT_EQ(old.header("cache-control"), "public, max-age=60");
}

TEST_F(OriginTest, MetricsCountRequestsByClassAndStatus) {
  OpenRoom("lobby");
  Get(origin_->url() + SegmentPath("lobby", 1000, BucketIndex(WallMs(), 1000) + 99));
  HttpResponse m = Get(origin_->url() + "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("cache-control"), "no-store");
  EXPECT_NE(m.body.find("roomcast_origin_requests_total{class=\"actions\",status=\"404\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("# TYPE roomcast_origin_hold_wake_delay_seconds histogram"),
            std::string::npos);
  EXPECT_NE(m.body.find("roomcast_origin_held_requests 0"), std::string::npos);
}

TEST_F(OriginTest, CorsPreflightIsAnswered) {
  HttpResponse r = Fetch("OPTIONS", origin_->url() + segmenter::ManifestPath("lobby"), "",
                         {"Origin: https://viewer.example", "Access-Control-Request-Method: GET"});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_NE(r.header("access-control-allow-methods").find("GET"), std::string::npos);
}

}  // namespace
}  // namespace roomcast::testing

namespace roomcast::testing {
namespace {

TEST_F(OriginTest, ServesTheEmbeddedViewer) {
  HttpResponse root = Get(origin_->url() + "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.header("location"), "/viewer/");
  HttpResponse page = Get(origin_->url() + "/viewer/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<script type=\"module\" src=\"viewer.js\">"), std::string::npos);
  HttpResponse js = Get(origin_->url() + "/viewer/viewer.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("roomcast.mjs"), std::string::npos);
  // The follow module, from client/js/, for any page to import.
  HttpResponse mod = Get(origin_->url() + "/viewer/roomcast.mjs");
  EXPECT_EQ(mod.status, 200);
  EXPECT_EQ(mod.header("content-type").rfind("text/javascript", 0), 0u) << mod.header("content-type");
  EXPECT_EQ(mod.header("access-control-allow-origin"), "*");
  EXPECT_NE(mod.body.find("/actions/"), std::string::npos);
  EXPECT_NE(mod.body.find("export function follow"), std::string::npos);
  EXPECT_EQ(Get(origin_->url() + "/viewer/viewer.js", {"If-None-Match: " + js.header("etag")}).status,
            304);
  EXPECT_EQ(Get(origin_->url() + "/viewer/../origin.cc").status, 404);
}

}  // namespace
}  // namespace roomcast::testing
