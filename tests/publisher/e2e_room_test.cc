// A room's features end to end: the big-room cap and its drop counts, peer
// isolation (DESIGN §7 invariant 4), and the online count from presence.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/peer_hint.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

constexpr int64_t kBucketMs = 250;

class PublisherE2eRoomTest : public PublisherE2eTest {
 protected:
  void WaitClosed(int64_t k) {
    ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(k, kBucketMs), std::chrono::seconds(10)))
        << "watermark " << OriginWatermarkMs();
  }
};

TEST_F(PublisherE2eRoomTest, BigRoomCapKeepsHighPriorityAndCountsTheRest) {
  const std::string room = "big-room";
  // 8/s at 250 ms buckets: 2 normal actions kept per bucket.
  OpenRoom(room, R"({"bucket_ms": 250, "action_cap_per_s": 8})");
  // After the open: a bucket that ended before the room was opened is a
  // lasting 404 ("before the room existed"), not an empty segment.
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string path = "/v1/rooms/" + room + "/messages";
  std::vector<Ack> acks;
  int64_t last_k = first_k;
  auto post = [&](const std::string& token, const std::string& body) {
    HttpResponse r = PostJson(path, body, token);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const Ack& a : ParseAcks(r.body)) {
      acks.push_back(a);
      last_k = std::max(last_k, a.bucket);
    }
  };
  for (int u = 0; u < 10; ++u) {
    std::string batch = R"({"messages":[)";
    for (int i = 0; i < 30; ++i) {
      absl::StrAppend(&batch, i ? "," : "", R"({"type":"comment","text":"c)", u, "-", i,
                      R"("})");
    }
    post(Token(absl::StrCat("viewer", u), v1::ROLE_AUDIENCE, room), batch + "]}");
    post(Token(absl::StrCat("viewer", u), v1::ROLE_AUDIENCE, room),
         R"({"type":"like","count":3})");
    if (u % 3 == 0) {
      post(Token(absl::StrCat("viewer", u), v1::ROLE_AUDIENCE, room),
           R"({"type":"gift","gift_id":"rose","count":1})");
      post(Token("host", v1::ROLE_ANCHOR, room), R"({"type":"comment","text":"host says"})");
    }
  }
  ASSERT_EQ(acks.size(), 10u * 31 + 4 * 2);
  WaitClosed(last_k);
  RoomSegments segs = ReadSegments(room, kBucketMs, first_k, last_k);
  ASSERT_TRUE(segs.problems.empty()) << segs.problems.front();
  EXPECT_TRUE(SeqContinuous(segs));

  uint64_t kept = 0, dropped_comments = 0, dropped_likes = 0, last_seq = 0;
  int gifts = 0, host = 0;
  for (const auto& [k, seg] : segs.segments) {
    int normal = 0;
    for (const v1::Message& m : seg.messages()) {
      ++kept;
      if (m.has_gift()) ++gifts;
      if (m.sender() == "host") ++host;
      if (m.priority() != v1::PRIORITY_HIGH) ++normal;
    }
    EXPECT_LE(normal, 2) << "bucket " << k << " keeps more than the cap";
    for (const auto& [type, n] : seg.dropped()) {
      if (type == "comment") {
        dropped_comments += n;
      } else if (type == "like") {
        dropped_likes += n;
      } else {
        ADD_FAILURE() << "dropped a " << type;
      }
    }
    if (seg.last_seq() != 0) last_seq = seg.last_seq();
  }
  EXPECT_EQ(gifts, 4) << "gifts are high priority";
  EXPECT_EQ(host, 4) << "the anchor is high priority";
  EXPECT_GT(dropped_comments, 200u);
  EXPECT_EQ(kept + dropped_comments + dropped_likes, acks.size());
  EXPECT_EQ(last_seq, acks.size());
}

HttpResponse GetWithToken(const std::string& url, const std::string& token,
                          bool proto = false) {
  Headers h;
  if (!token.empty()) h.push_back("Authorization: Bearer " + token);
  if (proto) h.push_back("Accept: application/x-protobuf");
  return Get(url, h);
}

TEST_F(PublisherE2eRoomTest, PeerMessagesReachOnlyTheirUser) {
  const std::string room = "peer-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const std::string alice = "alice-x1", bob = "bob-y2";
  const std::string mod = Token("mod-m9", v1::ROLE_MODERATOR, room);
  HttpResponse pa = PostJson("/v1/rooms/" + room + "/peer/" + alice,
                             R"({"type":"comment","text":"psst-secret-for-alice"})", mod);
  ASSERT_EQ(pa.status, 200) << pa.body;
  HttpResponse pb = PostJson("/v1/rooms/" + room + "/peer/" + bob,
                             R"({"type":"comment","text":"psst-secret-for-bob"})", mod);
  ASSERT_EQ(pb.status, 200) << pb.body;
  HttpResponse pub = PostJson("/v1/rooms/" + room + "/messages",
                              R"({"type":"comment","text":"hello room"})",
                              Token("viewer-z", v1::ROLE_AUDIENCE, room));
  ASSERT_EQ(pub.status, 200) << pub.body;
  std::vector<Ack> a = ParseAcks(pa.body);
  ASSERT_EQ(a.size(), 1u);
  const int64_t k = a[0].bucket;
  WaitClosed(std::max({k, ParseAcks(pb.body)[0].bucket, ParseAcks(pub.body)[0].bucket}));

  const std::string peer_url =
      origin_->url() + segmenter::PeerPath(room, alice, kBucketMs, k);
  HttpResponse mine = GetWithToken(peer_url, Token(alice, v1::ROLE_AUDIENCE, room));
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_NE(mine.body.find("psst-secret-for-alice"), std::string::npos);
  EXPECT_EQ(mine.body.find("psst-secret-for-bob"), std::string::npos);
  EXPECT_NE(mine.header("cache-control").find("private"), std::string::npos);
  struct Refused {
    std::string name, token;
    long status;
  };
  for (const Refused& r : std::vector<Refused>{
           {"no token", "", 401},
           {"bob's token", Token(bob, v1::ROLE_AUDIENCE, room), 403},
           {"alice's token for another room", Token(alice, v1::ROLE_AUDIENCE, "other"), 403},
           {"alice's expired token", Token(alice, v1::ROLE_AUDIENCE, room, -120), 401},
           {"a token signed elsewhere",
            auth::MintJwt({.sub = alice, .role = v1::ROLE_AUDIENCE, .room = room,
                           .exp = WallMs() / 1000 + 60},
                          "other-secret"),
            401}}) {
    HttpResponse got = GetWithToken(peer_url, r.token);
    EXPECT_TRUE(IsJsonError(got, r.status)) << r.name;
    EXPECT_EQ(got.body.find("psst"), std::string::npos) << r.name;
  }

  // The public segment: no peer text, no recipient ids, but a hint that
  // alice (with her key) can test.
  for (const auto& format : {segmenter::Format::kProto, segmenter::Format::kJson}) {
    HttpResponse seg = Get(origin_->url() + segmenter::SegmentPath(room, kBucketMs, k, format));
    ASSERT_EQ(seg.status, 200);
    for (const std::string& secret : {std::string("psst"), alice, bob, std::string("mod-m9")}) {
      EXPECT_EQ(seg.body.find(secret), std::string::npos) << secret << " leaks";
    }
  }
  RoomSegments segs = ReadSegments(room, kBucketMs, k, k);
  ASSERT_TRUE(segs.segments[k].has_peer_hint());

  const std::string key_url = PublisherUrl(segmenter::PeerKeyPath(room, alice));
  HttpResponse key = GetWithToken(key_url, Token(alice, v1::ROLE_AUDIENCE, room), true);
  ASSERT_EQ(key.status, 200) << key.body;
  EXPECT_NE(key.header("cache-control").find("no-store"), std::string::npos);
  v1::HintKey hk;
  ASSERT_TRUE(hk.ParseFromString(key.body));
  segmenter::HintKey bytes;
  ASSERT_TRUE(segmenter::HintKeyFromBytes(hk.key(), &bytes));
  EXPECT_TRUE(segmenter::PeerHintMayContain(segs.segments[k].peer_hint(), bytes, k));
  EXPECT_TRUE(IsJsonError(GetWithToken(key_url, Token(bob, v1::ROLE_AUDIENCE, room)), 403));
  EXPECT_TRUE(IsJsonError(GetWithToken(key_url, ""), 401));
  HttpResponse bobs = GetWithToken(PublisherUrl(segmenter::PeerKeyPath(room, bob)),
                                   Token(bob, v1::ROLE_AUDIENCE, room), true);
  ASSERT_EQ(bobs.status, 200);
  EXPECT_NE(bobs.body, key.body) << "every user has a key of its own";
}

// The online count of 10,000 distinct users, each sending one heartbeat over
// HTTP, lands within 3% (HyperLogLog) in the `online` state component.
TEST_F(PublisherE2eRoomTest, OnlineCountOfTenThousandUsersWithinThreePercent) {
  const std::string room = "crowd-room";
  OpenRoom(room, R"({"bucket_ms": 1000})");
  constexpr int kUsers = 10000, kThreads = 8;
  std::atomic<int> ok{0}, next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int u; (u = next.fetch_add(1)) < kUsers;) {
        const std::string token = Token(absl::StrCat("user-", u), v1::ROLE_AUDIENCE, room);
        if (PostJson("/v1/rooms/" + room + "/presence", "", token).status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("heartbeat_seconds", absl::StrCat(seconds));
  ASSERT_EQ(ok.load(), kUsers);

  // Published every 5 s: wait for a count taken after the last heartbeat.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  double online = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    HttpResponse m = Get(origin_->url() + segmenter::ManifestPath(room));
    v1::Manifest manifest;
    if (m.status != 200 || !manifest.ParseFromString(m.body)) continue;
    for (const v1::ComponentVersion& c : manifest.components()) {
      if (c.name() != "online") continue;
      HttpResponse s = Get(origin_->url() +
                           segmenter::StatePath(room, "online", static_cast<int64_t>(c.version())));
      v1::StateComponent sc;
      if (s.status == 200 && sc.ParseFromString(s.body)) online = sc.value().number_value();
    }
    if (online >= kUsers * 0.97) break;
  }
  EXPECT_NEAR(online, kUsers, kUsers * 0.03);
  std::cerr << "online count: " << online << " for " << kUsers << " users; heartbeats took "
            << seconds << " s" << std::endl;
}

}  // namespace
}  // namespace roomcast::testing
