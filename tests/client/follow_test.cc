// The client against a real roomcast-origin fed by a synthetic publisher
// (D = 250 ms): join at the live edge, state by partial versions, epoch
// changes, both follow modes and the switch between them.
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/match.h"
#include "auth/jwt.h"
#include "client/client.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "tests/client/recorder.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using client::FollowMode;
using Clock = std::chrono::steady_clock;

class FollowTest : public OriginTest {
 protected:
  void StartPublisher(SyntheticPublisher::Options o = {}) {
    pub_ = std::make_unique<SyntheticPublisher>(*origin_, o);
    pub_->Start();
  }
  void TearDown() override {
    if (pub_) {
      pub_->Stop();
      EXPECT_EQ(pub_->upload_failures(), 0);
    }
  }
  // GETs answered 200 (the publisher's PUTs are answered 201).
  double OriginRequests(const std::string& cls) {
    return origin_->Metric("roomcast_origin_requests_total",
                           "class=\"" + cls + "\",status=\"200\"");
  }
  std::unique_ptr<SyntheticPublisher> pub_;
};

// Runs `c` until `done` or the deadline; returns done().
bool RunFor(Client& c, std::chrono::milliseconds limit, const std::function<bool()>& done) {
  return c.RunUntil(done, Clock::now() + limit);
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t q = first; q <= last; ++q) out.push_back(q);
  return out;
}

TEST_F(FollowTest, JoinMidRoomGetsNoEarlierActionAndTheFullState) {
  StartPublisher();
  for (int i = 0; i < 5; ++i) pub_->Post("before " + std::to_string(i));
  pub_->SetState("title", "first title");
  pub_->SetState("title", "second title");
  pub_->SetState("pinned", "welcome");
  ASSERT_TRUE(pub_->WaitPublished());
  // Also one in the bucket the client is about to join, just before it.
  const uint64_t last_before = pub_->Post("just before").seq();

  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby"}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !rec.joins.empty() && rec.states.size() >= 2; }));
  std::vector<uint64_t> after;
  for (int i = 0; i < 10; ++i) {
    after.push_back(pub_->Post("after " + std::to_string(i)).seq());
    c.RunUntil([] { return false; }, Clock::now() + 30ms);
  }
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.LastSeq() >= after.back(); }));
  RunFor(c, 300ms, [] { return false; });  // anything repeated would show now

  EXPECT_EQ(rec.Seqs(), after);
  for (const Recorder::Action& a : rec.actions) {
    EXPECT_GT(a.message.seq(), last_before);
    EXPECT_GE(a.message.ts_ms(), rec.joins[0].join_ms);
  }
  ASSERT_EQ(rec.states.size(), 2u);
  std::map<std::string, std::pair<uint64_t, std::string>> state;
  for (const auto& s : rec.states) state[s.name()] = {s.version(), s.value().string_value()};
  EXPECT_EQ(state["title"], std::make_pair(uint64_t{2}, std::string("second title")));
  EXPECT_EQ(state["pinned"], std::make_pair(uint64_t{1}, std::string("welcome")));
  EXPECT_EQ(c.Stats(id).snapshot_requests, 1u);
  EXPECT_EQ(c.Stats(id).state_requests, 0u);
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(FollowTest, StateChangesArriveAsPartialVersionsOnly) {
  StartPublisher();
  pub_->SetState("title", "t1");
  pub_->SetState("leaderboard", "l1");
  pub_->SetState("online", "1");
  ASSERT_TRUE(pub_->WaitPublished());
  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby"}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.states.size() == 3; }));
  const double snapshots = OriginRequests("snapshot");
  const double components = OriginRequests("state");

  pub_->SetState("online", "2");
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.states.size() == 4; }));
  pub_->SetState("title", "t2");
  pub_->SetState("title", "t3");  // two sets in one bucket: only the latest is fetched
  ASSERT_TRUE(RunFor(c, 5s, [&] {
    return !rec.states.empty() && rec.states.back().value().string_value() == "t3";
  }));
  RunFor(c, 1200ms, [] { return false; });

  ASSERT_EQ(rec.states.size(), 5u);
  EXPECT_EQ(rec.states[3].name(), "online");
  EXPECT_EQ(rec.states[3].version(), 2u);
  EXPECT_EQ(rec.states[4].name(), "title");
  EXPECT_EQ(rec.states[4].version(), 3u);
  // After the join: one component object per change, never a snapshot.
  EXPECT_EQ(OriginRequests("snapshot"), snapshots);
  EXPECT_EQ(OriginRequests("state") - components, 2);
  EXPECT_EQ(c.Stats(id).snapshot_requests, 1u);
  EXPECT_EQ(c.Stats(id).state_requests, 2u);
}

TEST_F(FollowTest, EpochChangeRejoinsCleanly) {
  StartPublisher();
  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby"}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !rec.joins.empty(); }));
  for (int i = 0; i < 3; ++i) pub_->Post("old " + std::to_string(i));
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.actions.size() == 3; }));

  // The old epoch sets no state: state URLs carry no epoch, so the new
  // epoch's title/1 would collide with the old one at the origin (reported).
  pub_->Recreate();
  pub_->SetState("title", "new room");
  for (int i = 0; i < 6; ++i) {
    pub_->Post("new " + std::to_string(i));
    RunFor(c, 60ms, [] { return false; });
  }
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 6s, [&] { return rec.Seqs(2).size() == 6 && rec.states.size() == 1; }));
  RunFor(c, 300ms, [] { return false; });

  ASSERT_EQ(rec.epoch_changes.size(), 1u);
  EXPECT_EQ(rec.epoch_changes[0], std::make_pair(uint64_t{1}, uint64_t{2}));
  EXPECT_EQ(rec.Seqs(1), Range(1, 3));
  // Seqs restart in the new epoch, and none of the new epoch's is missed.
  EXPECT_EQ(rec.Seqs(2), Range(1, 6));
  ASSERT_EQ(rec.states.size(), 1u);
  EXPECT_EQ(rec.states[0].epoch(), 2u);
  EXPECT_EQ(rec.states[0].value().string_value(), "new room");
  EXPECT_EQ(c.Stats(id).rejoins, 1u);
  EXPECT_EQ(c.Stats(id).epoch, 2u);
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(FollowTest, QuietRoomIsFollowedByManifestHoldAndBusyRoomByBucketHold) {
  StartPublisher();
  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby"}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !rec.joins.empty(); }));
  // Quiet: a comment every 1.5 s (the hint counts buckets with actions
  // among the last 10, i.e. 2.5 s here).
  for (int i = 0; i < 3; ++i) {
    pub_->Post("quiet " + std::to_string(i));
    RunFor(c, 1500ms, [] { return false; });
  }
  ASSERT_TRUE(RunFor(c, 3s, [&] { return rec.actions.size() == 3; }));
  EXPECT_EQ(c.Stats(id).mode, FollowMode::kManifestHold);
  // About one bucket request per change, not one per bucket (18 here).
  EXPECT_LE(c.Stats(id).bucket_requests, 5u);

  // Busy: a comment every 50 ms for 2 s.
  for (int i = 0; i < 40; ++i) {
    pub_->Post("busy " + std::to_string(i));
    RunFor(c, 50ms, [] { return false; });
  }
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.actions.size() == 43; }));
  EXPECT_EQ(c.Stats(id).mode, FollowMode::kBucketHold);
  EXPECT_EQ(rec.Seqs(), Range(1, 43));
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(FollowTest, StalledPublisherIsWaitedOutWithoutABusyLoop) {
  StartPublisher();
  for (int i = 0; i < 12; ++i) {  // busy: bucket-hold
    pub_->Post("warm " + std::to_string(i));
    std::this_thread::sleep_for(50ms);
  }
  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !rec.joins.empty(); }));
  pub_->SetPaused(true);
  const uint64_t seq = pub_->Post("during the stall").seq();
  const uint64_t before = c.Stats(id).bucket_requests;
  RunFor(c, 4s, [] { return false; });
  // Held 3 s at the origin, then "not yet" answers retried after >= 100 ms.
  EXPECT_LE(c.Stats(id).bucket_requests - before, 12u);
  pub_->SetPaused(false);
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.LastSeq() == seq; }));
  EXPECT_EQ(rec.Seqs(), std::vector<uint64_t>{seq});
}

}  // namespace
}  // namespace roomcast::testing

namespace roomcast::testing {
namespace {

std::string TokenFor(const std::string& user) {
  return auth::MintJwt({.sub = user, .role = v1::ROLE_AUDIENCE, .room = "lobby",
                        .exp = WallMs() / 1000 + 600},
                       kJwtSecret);
}

TEST_F(FollowTest, PeerMessageReachesOnlyItsUser) {
  StartPublisher();
  const std::string secret = pub_->options().hint_secret;
  Client c({.base_url = origin_->url()});
  Recorder alice, bob;
  auto a = c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold, .user = "alice",
                     .token = TokenFor("alice"),
                     .hint_key = segmenter::DeriveHintKey(secret, "alice")},
                    alice.Callbacks());
  auto b = c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold, .user = "bob",
                     .token = TokenFor("bob"),
                     .hint_key = segmenter::DeriveHintKey(secret, "bob")},
                    bob.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !alice.joins.empty() && !bob.joins.empty(); }));
  pub_->Post("for everyone");
  const v1::Message sent = pub_->Peer("alice", "thanks for the gift");
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return alice.peers.size() == 1 && bob.actions.size() == 1; }));
  RunFor(c, 500ms, [] { return false; });

  ASSERT_EQ(alice.peers.size(), 1u);
  EXPECT_EQ(alice.peers[0].comment().text(), "thanks for the gift");
  EXPECT_EQ(alice.peers[0].recipient(), "alice");
  EXPECT_TRUE(bob.peers.empty());
  EXPECT_EQ(c.Stats(a).peer_requests, 1u);
  EXPECT_LE(c.Stats(b).peer_requests, 1u);  // at most a Bloom false positive
  EXPECT_TRUE(alice.errors.empty()) << alice.errors[0];

  // The object itself: only alice's token reads it.
  const std::string url = origin_->url() + segmenter::PeerPath("lobby", "alice", 250,
                                                               segmenter::BucketIndex(sent.ts_ms(), 250));
  EXPECT_EQ(Get(url, {"Authorization: Bearer " + TokenFor("alice")}).status, 200);
  EXPECT_EQ(Get(url, {"Authorization: Bearer " + TokenFor("bob")}).status, 403);
  EXPECT_EQ(Get(url).status, 401);
}

TEST_F(FollowTest, RefusedTokenIsReportedNotRetriedForever) {
  StartPublisher();
  const std::string secret = pub_->options().hint_secret;
  Client c({.base_url = origin_->url()});
  Recorder alice;
  auto a = c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold, .user = "alice",
                     .token = "not-a-token", .hint_key = segmenter::DeriveHintKey(secret, "alice")},
                    alice.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !alice.joins.empty(); }));
  pub_->Peer("alice", "one");
  ASSERT_TRUE(pub_->WaitPublished());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !alice.errors.empty(); }));
  pub_->Peer("alice", "two");
  RunFor(c, 1s, [] { return false; });
  EXPECT_TRUE(alice.peers.empty());
  EXPECT_EQ(c.Stats(a).peer_requests, 1u);
  EXPECT_TRUE(absl::StrContains(alice.errors[0], "peer object refused")) << alice.errors[0];
}

}  // namespace
}  // namespace roomcast::testing

namespace roomcast::testing {
namespace {

TEST_F(FollowTest, LostSegmentIsReportedAsAGapNeverSkippedSilently) {
  StartPublisher();
  Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = "lobby", .mode = FollowMode::kBucketHold}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 3s, [&] { return !rec.joins.empty(); }));
  pub_->Post("one");
  ASSERT_TRUE(RunFor(c, 3s, [&] { return rec.actions.size() == 1; }));
  pub_->LoseNextSegment();
  pub_->Post("two");
  pub_->Post("three");
  ASSERT_TRUE(pub_->WaitPublished());
  RunFor(c, 300ms, [] { return false; });
  pub_->Post("four");
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.LastSeq() == 4; }));

  EXPECT_EQ(rec.Seqs(), (std::vector<uint64_t>{1, 4}));
  ASSERT_EQ(rec.gaps.size(), 1u);
  EXPECT_EQ(rec.gaps[0], std::make_pair(uint64_t{2}, uint64_t{3}));
  EXPECT_EQ(c.Stats(id).gaps, 1u);
}

}  // namespace
}  // namespace roomcast::testing
