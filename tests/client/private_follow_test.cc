// The client follows a private room (DESIGN §12) through the real origin
// and through real nginx and Varnish (origin/cdn/ configs, unchanged): with
// the room's edge token it gets every action and the state; with a forged,
// expired or other room's token it is refused and stops; without one it
// sees nothing (the public prefix knows nothing of a private room). Behind
// a cache, viewers with tokens of their own share one origin request per
// bucket. A renewed token carries a follower on past the old one's expiry;
// peer messages keep the user's JWT.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "auth/jwt.h"
#include "client/client.h"
#include "segmenter/bucketer.h"
#include "segmenter/peer_hint.h"
#include "tests/client/recorder.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "vip";
constexpr int64_t kBucketMs = 250;

// Where the followers read from: the origin itself or a reference edge.
enum class Via { kOrigin, kNginx, kVarnish };

std::string EdgeToken(const std::string& room, int64_t ttl_s = 600,
                      const std::string& secret = kEdgeSecret) {
  return auth::MintEdgeToken(auth::EdgeAclForRoom(room), WallMs() / 1000 + ttl_s, secret);
}

bool RunFor(Client& c, std::chrono::milliseconds limit, const std::function<bool()>& done) {
  return c.RunUntil(done, Clock::now() + limit);
}
void Idle(Client& c, std::chrono::milliseconds t) { RunFor(c, t, [] { return false; }); }

class PrivateFollowTest : public OriginTest, public ::testing::WithParamInterface<Via> {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    if (GetParam() != Via::kOrigin) {
      cache_ = std::make_unique<Cache>(
          GetParam() == Via::kNginx ? Cache::Kind::kNginx : Cache::Kind::kVarnish,
          origin_->url().substr(std::string("http://").size()), kEdgeSecret);
      ASSERT_TRUE(cache_->Start()) << "could not start " << cache_->name();
    }
    pub_ = std::make_unique<SyntheticPublisher>(
        *origin_, SyntheticPublisher::Options{.room = kRoom, .bucket_ms = kBucketMs,
                                              .private_room = true});
    pub_->Start();
  }
  void TearDown() override {
    pub_->Stop();
    EXPECT_EQ(pub_->upload_failures(), 0);
  }
  std::string Base() const { return cache_ ? cache_->url() : origin_->url(); }
  // Action GETs that reached the origin (the publisher's PUTs get 201).
  double OriginActionGets() {
    return origin_->Metric("roomcast_origin_requests_total", "class=\"actions\"") -
           origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"201\"");
  }

  std::unique_ptr<Cache> cache_;
  std::unique_ptr<SyntheticPublisher> pub_;
};

TEST_P(PrivateFollowTest, WithItsEdgeTokenEveryActionAndTheStateArrive) {
  pub_->SetState("title", "members only");
  ASSERT_TRUE(pub_->WaitPublished());
  Client c({.base_url = Base()});
  Recorder member, outsider;
  auto id = c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom)}, member.Callbacks());
  c.Follow({.room = kRoom}, outsider.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !member.joins.empty() && !member.states.empty(); }));
  std::vector<uint64_t> sent;
  for (int i = 0; i < 8; ++i) {
    sent.push_back(pub_->Post("secret " + std::to_string(i)).seq());
    Idle(c, 60ms);
  }
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return member.LastSeq() >= sent.back(); }));
  Idle(c, 300ms);  // a repeat would show now

  EXPECT_EQ(member.Seqs(), sent);
  ASSERT_EQ(member.states.size(), 1u);
  EXPECT_EQ(member.states[0].value().string_value(), "members only");
  EXPECT_TRUE(member.refusals.empty());
  EXPECT_TRUE(member.gaps.empty());
  EXPECT_FALSE(c.Stats(id).refused);
  // Without a token the room is not there at all: never joined, nothing
  // delivered, and nothing refused either (nothing was asked of /v1/private/).
  EXPECT_TRUE(outsider.joins.empty());
  EXPECT_TRUE(outsider.actions.empty());
  EXPECT_TRUE(outsider.states.empty());
  EXPECT_TRUE(outsider.refusals.empty());
}

TEST_P(PrivateFollowTest, ABadTokenIsRefusedOnceAndStopsTheFollower) {
  std::string forged = EdgeToken(kRoom);
  forged.back() = forged.back() == '0' ? '1' : '0';
  const std::vector<std::string> bad = {forged, EdgeToken(kRoom, -5), EdgeToken("other"),
                                        EdgeToken(kRoom, 600, "not-the-edge-secret"),
                                        "exp=1~acl=/v1/private/vip/*~hmac=00"};
  Client c({.base_url = Base()});
  std::vector<Recorder> recs(bad.size());
  std::vector<Client::FollowerId> ids;
  for (size_t i = 0; i < bad.size(); ++i) {
    ids.push_back(c.Follow({.room = kRoom, .edge_token = bad[i]}, recs[i].Callbacks()));
  }
  auto all_refused = [&] {
    for (const Recorder& r : recs) {
      if (r.refusals.empty()) return false;
    }
    return true;
  };
  ASSERT_TRUE(RunFor(c, 5s, all_refused));
  std::vector<uint64_t> requests;
  for (Client::FollowerId id : ids) requests.push_back(c.Stats(id).manifest_requests);
  pub_->Post("not for them");
  ASSERT_TRUE(pub_->WaitPublished());
  Idle(c, 1s);

  for (size_t i = 0; i < bad.size(); ++i) {
    ASSERT_EQ(recs[i].refusals.size(), 1u) << bad[i];
    EXPECT_TRUE(absl::IsPermissionDenied(recs[i].refusals[0])) << recs[i].refusals[0];
    EXPECT_TRUE(absl::StrContains(recs[i].refusals[0].message(), "HTTP 403"))
        << recs[i].refusals[0];
    EXPECT_TRUE(recs[i].joins.empty()) << bad[i];
    EXPECT_TRUE(recs[i].actions.empty()) << bad[i];
    EXPECT_TRUE(c.Stats(ids[i]).refused);
    EXPECT_EQ(c.Stats(ids[i]).manifest_requests, requests[i]) << "stopped: asks nothing more";
  }
}

INSTANTIATE_TEST_SUITE_P(Via, PrivateFollowTest,
                         ::testing::Values(Via::kOrigin, Via::kNginx, Via::kVarnish),
                         [](const auto& info) {
                           switch (info.param) {
                             case Via::kOrigin: return "Origin";
                             case Via::kNginx: return "Nginx";
                             case Via::kVarnish: return "Varnish";
                           }
                           return "";
                         });

// Behind an edge: the token travels as a cookie the edge keeps out of its
// cache key, so members with tokens of their own share every bucket.
class PrivateFollowCdnTest : public PrivateFollowTest {};

TEST_P(PrivateFollowCdnTest, MembersWithTheirOwnTokensShareOneOriginRequestPerBucket) {
  constexpr int kMembers = 40;
  Client c({.base_url = Base()});
  std::vector<Recorder> recs(kMembers);
  for (int i = 0; i < kMembers; ++i) {
    // Each token differs (its exp), as each viewer's would.
    c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom, 600 + i)}, recs[i].Callbacks());
  }
  auto all_joined = [&] {
    for (const Recorder& r : recs) {
      if (r.joins.empty()) return false;
    }
    return true;
  };
  ASSERT_TRUE(RunFor(c, 5s, all_joined));
  const double before = OriginActionGets();
  const int64_t bucket_before = segmenter::BucketIndex(WallMs(), kBucketMs);
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    last = pub_->Post("busy " + std::to_string(i)).seq();
    Idle(c, 40ms);
  }
  ASSERT_TRUE(pub_->WaitPublished());
  auto all_caught_up = [&] {
    for (const Recorder& r : recs) {
      if (r.LastSeq() < last) return false;
    }
    return true;
  };
  EXPECT_TRUE(RunFor(c, 5s, all_caught_up));
  const int64_t buckets = segmenter::BucketIndex(WallMs(), kBucketMs) - bucket_before;
  const double per_bucket = (OriginActionGets() - before) / static_cast<double>(buckets);

  for (const Recorder& r : recs) {
    EXPECT_TRUE(r.refusals.empty());
    EXPECT_TRUE(r.gaps.empty());
    EXPECT_EQ(r.LastSeq(), last);
  }
  std::cout << cache_->name() << ": " << per_bucket << " origin action requests per bucket for "
            << kMembers << " members" << std::endl;
  EXPECT_LE(per_bucket, 1.5) << cache_->name();
}

// The browser viewer reads the .json renditions with the token as a query
// parameter, percent-encoded by encodeURIComponent: the edges take that too.
TEST_P(PrivateFollowCdnTest, TheViewersPercentEncodedQueryTokenPassesTheEdge) {
  ASSERT_TRUE(pub_->WaitPublished());
  std::string encoded;
  for (char ch : EdgeToken(kRoom)) {
    if (ch == '=' || ch == '/') {
      absl::StrAppend(&encoded, "%", absl::Hex(static_cast<unsigned char>(ch), absl::kZeroPad2));
    } else {
      encoded.push_back(ch);
    }
  }
  const std::string url = Base() + "/v1/private/vip/manifest.json?rc_token=";
  HttpResponse r = Get(url + encoded);
  EXPECT_EQ(r.status, 200) << cache_->name() << ": " << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "\"room\"")) << r.body;
  EXPECT_EQ(Get(url).status, 401) << cache_->name();
}

INSTANTIATE_TEST_SUITE_P(Caches, PrivateFollowCdnTest,
                         ::testing::Values(Via::kNginx, Via::kVarnish),
                         [](const auto& info) {
                           return info.param == Via::kNginx ? "Nginx" : "Varnish";
                         });

// At the origin itself: token renewal, the scope a follower keeps, and peer
// messages of a private room.
class PrivateFollowOriginTest : public PrivateFollowTest {};

TEST_P(PrivateFollowOriginTest, ARenewedTokenCarriesOnWhereTheOldOneIsRefused) {
  Client c({.base_url = Base()});
  Recorder renewed, kept;
  // Both tokens expire within two seconds; one follower gets a fresh one.
  auto r = c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom, 2)}, renewed.Callbacks());
  auto k = c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom, 2)}, kept.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !renewed.joins.empty() && !kept.joins.empty(); }));
  ASSERT_TRUE(c.SetEdgeToken(r, EdgeToken(kRoom, 600)).ok());
  ASSERT_TRUE(RunFor(c, 8s, [&] { return !kept.refusals.empty(); }));
  const uint64_t seq = pub_->Post("after the old token expired").seq();
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return renewed.LastSeq() == seq; }));

  EXPECT_TRUE(renewed.refusals.empty());
  EXPECT_FALSE(c.Stats(r).refused);
  EXPECT_TRUE(c.Stats(k).refused);
  EXPECT_TRUE(absl::StrContains(kept.refusals[0].message(), "expired")) << kept.refusals[0];
  EXPECT_TRUE(kept.actions.empty());
}

TEST_P(PrivateFollowOriginTest, AFollowerKeepsItsScope) {
  Client c({.base_url = Base()});
  Recorder a, b;
  auto pub = c.Follow({.room = "lobby"}, a.Callbacks());
  auto priv = c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom)}, b.Callbacks());
  EXPECT_TRUE(absl::IsFailedPrecondition(c.SetEdgeToken(pub, EdgeToken("lobby"))));
  EXPECT_TRUE(absl::IsInvalidArgument(c.SetEdgeToken(priv, "")));
  EXPECT_TRUE(absl::IsNotFound(c.SetEdgeToken(priv + 100, EdgeToken(kRoom))));
  EXPECT_TRUE(c.SetEdgeToken(priv, EdgeToken(kRoom, 900)).ok());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !b.joins.empty(); }));
  EXPECT_TRUE(b.refusals.empty());
}

TEST_P(PrivateFollowOriginTest, PeerMessagesKeepTheUsersJwt) {
  auto jwt = [](const std::string& user) {
    return auth::MintJwt({.sub = user, .role = v1::ROLE_AUDIENCE, .room = kRoom,
                          .exp = WallMs() / 1000 + 600},
                         kJwtSecret);
  };
  Client c({.base_url = Base()});
  Recorder alice;
  auto a = c.Follow({.room = kRoom, .edge_token = EdgeToken(kRoom),
                     .mode = client::FollowMode::kBucketHold, .user = "alice",
                     .token = jwt("alice"),
                     .hint_key = segmenter::DeriveHintKey(pub_->options().hint_secret, "alice")},
                    alice.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !alice.joins.empty(); }));
  const v1::Message sent = pub_->Peer("alice", "thanks, member");
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return alice.peers.size() == 1; }));

  EXPECT_EQ(alice.peers[0].comment().text(), "thanks, member");
  EXPECT_EQ(c.Stats(a).peer_requests, 1u);
  EXPECT_TRUE(alice.errors.empty()) << alice.errors[0];
  EXPECT_TRUE(alice.refusals.empty());
  // The peer object lives under the private prefix and answers to the JWT:
  // the edge token opens the room, not another user's messages.
  const std::string url =
      origin_->url() + segmenter::PeerPath(kRoom, "alice", kBucketMs,
                                           segmenter::BucketIndex(sent.ts_ms(), kBucketMs),
                                           segmenter::Format::kProto, segmenter::Scope::kPrivate);
  EXPECT_EQ(Get(url, {"Authorization: Bearer " + jwt("alice")}).status, 200);
  EXPECT_EQ(Get(url, {"Authorization: Bearer " + jwt("bob")}).status, 403);
  EXPECT_EQ(Get(url, {"Cookie: rc_token=" + EdgeToken(kRoom)}).status, 401);
}

INSTANTIATE_TEST_SUITE_P(Origin, PrivateFollowOriginTest, ::testing::Values(Via::kOrigin),
                         [](const auto&) { return "Origin"; });

}  // namespace
}  // namespace roomcast::testing
