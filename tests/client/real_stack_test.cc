// The client against the real stack: a real roomcast-publisher (traffic
// posted through its HTTP API) uploading to a real roomcast-origin, D = 250
// ms. Join mid-room, state by partial versions, peer delivery with the hint
// key fetched from the publisher, and an epoch change after the publisher
// lost its history (DESIGN §5, §7).
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/edge_token.h"
#include "client/client.h"
#include "roomcast/v1/manifest.pb.h"
#include "tests/client/recorder.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using client::FollowMode;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "stage";
constexpr char kOpenBody[] = R"({"bucket_ms": 250})";

bool RunFor(Client& c, std::chrono::milliseconds limit, const std::function<bool()>& done) {
  return c.RunUntil(done, Clock::now() + limit);
}
void Idle(Client& c, std::chrono::milliseconds t) {
  c.RunUntil([] { return false; }, Clock::now() + t);
}

class RealStackTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, kOpenBody);
  }
  std::string UserToken(const std::string& user) const {
    return Token(user, v1::ROLE_AUDIENCE, kRoom, 600);
  }
  Client MakeClient() const {
    return Client({.base_url = origin_->url(), .publisher_url = publisher_->url()});
  }
  // Posts one comment as `user`; the ack (seq 0 if refused, with a failure).
  Ack Post(const std::string& text, const std::string& user = "viewer-1") {
    HttpResponse r = PostJson(absl::StrCat("/v1/rooms/", kRoom, "/messages"),
                              absl::StrCat(R"({"type":"comment","text":")", text, R"("})"),
                              UserToken(user));
    std::vector<Ack> acks = ParseAcks(r.body);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(acks.size(), 1u) << r.body;
    return acks.empty() ? Ack{} : acks[0];
  }
  // Sets a component to a JSON string value, as a moderator.
  void SetState(const std::string& name, const std::string& value) {
    HttpResponse r = Fetch("PUT", PublisherUrl(absl::StrCat("/v1/rooms/", kRoom, "/state/", name)),
                           absl::StrCat("\"", value, "\""), JsonHeaders(ModToken()));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  Ack Peer(const std::string& user, const std::string& text) {
    HttpResponse r = PostJson(absl::StrCat("/v1/rooms/", kRoom, "/peer/", user),
                              absl::StrCat(R"({"type":"comment","text":")", text, R"("})"),
                              ModToken());
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.empty() ? Ack{} : acks[0];
  }
  std::string ModToken() const { return Token("mod-1", v1::ROLE_MODERATOR, kRoom, 600); }

  // The room's manifest at the origin (empty if none).
  v1::Manifest OriginManifest() const {
    v1::Manifest m;
    HttpResponse r = Get(origin_->url() + segmenter::ManifestPath(kRoom));
    if (r.status != 200 || !m.ParseFromString(r.body)) m.Clear();
    return m;
  }
  // Component name -> partial version, from the origin's manifest.
  std::map<std::string, uint64_t> Components() const {
    std::map<std::string, uint64_t> out;
    const v1::Manifest m = OriginManifest();
    for (const v1::ComponentVersion& c : m.components()) {
      out[c.name()] = c.version();
    }
    return out;
  }
  // Waits until the origin's manifest lists `n` components.
  bool WaitForComponents(size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (Components().size() == n) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // GETs answered 200 by the origin, of one class.
  double OriginGets(const std::string& cls) const {
    return origin_->Metric("roomcast_origin_requests_total",
                           absl::StrCat("class=\"", cls, "\",status=\"200\""));
  }
};

std::vector<uint64_t> SeqsOf(const std::vector<Ack>& acks) {
  std::vector<uint64_t> out;
  for (const Ack& a : acks) out.push_back(a.seq);
  return out;
}

TEST_F(RealStackTest, JoinMidRoomGetsNoEarlierActionAndTheFullState) {
  for (int i = 0; i < 5; ++i) Post(absl::StrCat("before ", i));
  SetState("title", "first title");
  SetState("title", "second title");
  SetState("pinned", "welcome");
  ASSERT_TRUE(WaitForComponents(2)) << OriginManifest().DebugString();
  ASSERT_TRUE(WaitForWatermark(WallMs(), 5s));
  const std::map<std::string, uint64_t> versions = Components();
  // Also one in the bucket the client is about to join, just before it.
  const Ack just_before = Post("just before");

  Client c = MakeClient();
  Recorder rec;
  auto id = c.Follow({.room = kRoom}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !rec.joins.empty() && rec.states.size() >= 2; }));
  std::vector<Ack> after;
  for (int i = 0; i < 10; ++i) {
    after.push_back(Post(absl::StrCat("after ", i)));
    Idle(c, 30ms);
  }
  ASSERT_TRUE(RunFor(c, 8s, [&] { return rec.LastSeq() >= after.back().seq; }))
      << "delivered up to seq " << rec.LastSeq();
  Idle(c, 500ms);  // anything repeated would show now

  EXPECT_EQ(rec.Seqs(), SeqsOf(after));
  for (const Recorder::Action& a : rec.actions) {
    EXPECT_GT(a.message.seq(), just_before.seq);
    EXPECT_GE(a.message.ts_ms(), rec.joins[0].join_ms);
    EXPECT_GT(a.message.ts_ms(), just_before.ts_ms);
  }
  ASSERT_EQ(rec.states.size(), 2u);
  std::map<std::string, std::pair<uint64_t, std::string>> state;
  for (const auto& s : rec.states) state[s.name()] = {s.version(), s.value().string_value()};
  EXPECT_EQ(state["title"], std::make_pair(versions.at("title"), std::string("second title")));
  EXPECT_EQ(state["pinned"], std::make_pair(versions.at("pinned"), std::string("welcome")));
  // The state came in one snapshot, no component one by one.
  EXPECT_EQ(c.Stats(id).snapshot_requests, 1u);
  EXPECT_EQ(c.Stats(id).state_requests, 0u);
  EXPECT_TRUE(rec.gaps.empty());
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.front();
}

TEST_F(RealStackTest, StateChangesAfterTheJoinArriveAsPartialVersionsOnly) {
  SetState("title", "t1");
  SetState("leaderboard", "l1");
  SetState("pinned", "p1");
  ASSERT_TRUE(WaitForComponents(3)) << OriginManifest().DebugString();
  Client c = MakeClient();
  Recorder rec;
  auto id = c.Follow({.room = kRoom}, rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.states.size() == 3; }));
  const double snapshots = OriginGets("snapshot");
  const double components = OriginGets("state");

  // Three changes, each waited for: one component object each.
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"title", "t2"}, {"leaderboard", "l2"}, {"title", "t3"}};
  for (const auto& [name, value] : changes) {
    SetState(name, value);
    ASSERT_TRUE(RunFor(c, 5s, [&, &value = value] {
      return !rec.states.empty() && rec.states.back().value().string_value() == value;
    })) << name << " = " << value << " did not arrive";
  }
  Idle(c, 1200ms);

  ASSERT_EQ(rec.states.size(), 6u);
  const std::map<std::string, uint64_t> versions = Components();
  EXPECT_EQ(rec.states[5].name(), "title");
  EXPECT_EQ(rec.states[5].version(), versions.at("title"));
  EXPECT_EQ(rec.states[4].name(), "leaderboard");
  EXPECT_EQ(rec.states[4].version(), versions.at("leaderboard"));
  EXPECT_GT(rec.states[5].version(), rec.states[3].version());
  // After the join: one component object per change, never a snapshot.
  EXPECT_EQ(c.Stats(id).snapshot_requests, 1u);
  EXPECT_EQ(c.Stats(id).state_requests, 3u);
  EXPECT_EQ(OriginGets("snapshot"), snapshots);
  EXPECT_EQ(OriginGets("state") - components, 3);
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.front();
}

TEST_F(RealStackTest, PeerMessageReachesOnlyItsUserWithTheKeyFromThePublisher) {
  Client c = MakeClient();
  Recorder alice, bob;
  // No hint keys given: each follower fetches its own from the publisher.
  auto a = c.Follow({.room = kRoom, .mode = FollowMode::kBucketHold, .user = "alice",
                     .token = UserToken("alice")},
                    alice.Callbacks());
  auto b = c.Follow({.room = kRoom, .mode = FollowMode::kBucketHold, .user = "bob",
                     .token = UserToken("bob")},
                    bob.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !alice.joins.empty() && !bob.joins.empty(); }));
  Idle(c, 300ms);  // the hint keys arrive
  const Ack pub = Post("for everyone");
  const Ack peer = Peer("alice", "thanks for the gift");
  ASSERT_NE(peer.bucket, 0);
  ASSERT_TRUE(RunFor(c, 8s, [&] {
    return alice.peers.size() == 1 && bob.LastSeq() >= pub.seq && alice.LastSeq() >= pub.seq;
  })) << "alice has " << alice.peers.size() << " peer messages";
  Idle(c, 750ms);

  ASSERT_EQ(alice.peers.size(), 1u);
  EXPECT_EQ(alice.peers[0].comment().text(), "thanks for the gift");
  EXPECT_EQ(alice.peers[0].recipient(), "alice");
  EXPECT_TRUE(bob.peers.empty());
  EXPECT_EQ(c.Stats(a).peer_requests, 1u);
  EXPECT_LE(c.Stats(b).peer_requests, 1u);  // at most a Bloom false positive
  EXPECT_TRUE(alice.errors.empty()) << alice.errors.front();
  EXPECT_TRUE(bob.errors.empty()) << bob.errors.front();
}

// A bucket whose only content is a peer hint: the manifest lists it (count
// 0), and a manifest-hold follower must read it, or it never sees the hint.
TEST_F(RealStackTest, PeerOnlyBucketReachesAManifestHoldFollower) {
  Client c = MakeClient();
  Recorder alice;
  auto a = c.Follow({.room = kRoom, .mode = FollowMode::kManifestHold, .user = "alice",
                     .token = UserToken("alice")},
                    alice.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !alice.joins.empty(); }));
  Idle(c, 300ms);
  Peer("alice", "psst, alone in its bucket");
  ASSERT_TRUE(RunFor(c, 8s, [&] { return !alice.peers.empty(); }))
      << "peer requests " << c.Stats(a).peer_requests << ", bucket requests "
      << c.Stats(a).bucket_requests;
  Idle(c, 500ms);
  ASSERT_EQ(alice.peers.size(), 1u);
  EXPECT_EQ(alice.peers[0].comment().text(), "psst, alone in its bucket");
  EXPECT_TRUE(alice.actions.empty());
  EXPECT_EQ(c.Stats(a).mode, FollowMode::kManifestHold);
}

TEST_F(RealStackTest, EpochChangeAfterThePublisherLostItsHistory) {
  Client c = MakeClient();
  Recorder rec;
  auto id = c.Follow({.room = kRoom, .user = "alice", .token = UserToken("alice")},
                     rec.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !rec.joins.empty(); }));
  std::vector<Ack> old_acks;
  for (int i = 0; i < 3; ++i) old_acks.push_back(Post(absl::StrCat("old ", i)));
  ASSERT_TRUE(RunFor(c, 5s, [&] { return rec.LastSeq() == old_acks.back().seq; }));
  const uint64_t old_epoch = rec.joins[0].epoch;

  // History lost: the publisher restarts on an empty data dir (same port,
  // so the client's publisher_url still names it) and the room is re-opened.
  const int port = PortOf(publisher_->url());
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  std::filesystem::remove_all(publisher_dir_.path() + "/log");
  StartPublisher({"--listen", absl::StrCat("127.0.0.1:", port)});
  ASSERT_EQ(PortOf(publisher_->url()), port);
  OpenRoom(kRoom, kOpenBody);

  std::vector<Ack> new_acks;
  for (int i = 0; i < 6; ++i) {
    new_acks.push_back(Post(absl::StrCat("new ", i)));
    Idle(c, 60ms);
  }
  const uint64_t new_epoch = OriginManifest().epoch();
  ASSERT_NE(new_epoch, old_epoch) << "the origin did not take the new epoch's manifest";
  ASSERT_TRUE(RunFor(c, 10s, [&] { return rec.Seqs(new_epoch).size() >= new_acks.size(); }))
      << "new epoch: " << rec.Seqs(new_epoch).size() << " actions";
  // A peer message of the new epoch: the hint key is the new epoch's.
  Peer("alice", "welcome back");
  ASSERT_TRUE(RunFor(c, 8s, [&] { return !rec.peers.empty(); }))
      << "no peer message after the epoch change; mode "
      << static_cast<int>(c.Stats(id).mode) << ", peer requests " << c.Stats(id).peer_requests
      << ", errors: " << absl::StrJoin(rec.errors, "; ");
  Idle(c, 500ms);

  ASSERT_EQ(rec.epoch_changes.size(), 1u);
  EXPECT_EQ(rec.epoch_changes[0], std::make_pair(old_epoch, new_epoch));
  EXPECT_GT(new_epoch, old_epoch);
  EXPECT_EQ(rec.Seqs(old_epoch), SeqsOf(old_acks));
  // Seqs restart at 1 in the new epoch; each new action arrives exactly once.
  EXPECT_EQ(new_acks.front().seq, 1u);
  EXPECT_EQ(rec.Seqs(new_epoch), SeqsOf(new_acks));
  ASSERT_EQ(rec.peers.size(), 1u);
  EXPECT_EQ(rec.peers[0].comment().text(), "welcome back");
  ASSERT_EQ(rec.joins.size(), 2u);
  EXPECT_EQ(rec.joins[1].epoch, new_epoch);
  EXPECT_EQ(c.Stats(id).rejoins, 1u);
  EXPECT_EQ(c.Stats(id).epoch, new_epoch);
  EXPECT_TRUE(rec.gaps.empty());
}

// A room opened with "private": true (DESIGN §12): the real publisher puts
// it under /v1/private/, a member follows it with an edge token and still
// gets its hint key from the publisher with its JWT; nobody without a token
// sees the room at all.
TEST_F(RealStackTest, APrivateRoomIsFollowedWithItsEdgeTokenAndTheKeyFromThePublisher) {
  constexpr char kVip[] = "backstage";
  OpenRoom(kVip, R"({"bucket_ms": 250, "private": true})");
  Client c = MakeClient();
  Recorder member, outsider;
  auto m = c.Follow({.room = kVip,
                     .edge_token = auth::MintEdgeToken(auth::EdgeAclForRoom(kVip),
                                                       WallMs() / 1000 + 600, kEdgeSecret),
                     .mode = FollowMode::kBucketHold,
                     .user = "alice",
                     .token = Token("alice", v1::ROLE_AUDIENCE, kVip, 600)},
                    member.Callbacks());
  c.Follow({.room = kVip}, outsider.Callbacks());
  ASSERT_TRUE(RunFor(c, 5s, [&] { return !member.joins.empty(); }));
  Idle(c, 300ms);  // the hint key arrives
  HttpResponse posted = PostJson(absl::StrCat("/v1/rooms/", kVip, "/messages"),
                                 R"({"type":"comment","text":"members only"})",
                                 Token("viewer-1", v1::ROLE_AUDIENCE, kVip, 600));
  ASSERT_EQ(posted.status, 200) << posted.body;
  HttpResponse peer = PostJson(absl::StrCat("/v1/rooms/", kVip, "/peer/alice"),
                               R"({"type":"comment","text":"thanks, member"})",
                               Token("mod-1", v1::ROLE_MODERATOR, kVip, 600));
  ASSERT_EQ(peer.status, 200) << peer.body;
  ASSERT_TRUE(RunFor(c, 8s, [&] { return member.actions.size() == 1 && member.peers.size() == 1; }))
      << member.actions.size() << " actions, " << member.peers.size() << " peer messages; "
      << absl::StrJoin(member.errors, "; ");

  EXPECT_EQ(member.actions[0].message.comment().text(), "members only");
  EXPECT_EQ(member.peers[0].comment().text(), "thanks, member");
  EXPECT_EQ(c.Stats(m).peer_requests, 1u);
  EXPECT_TRUE(member.errors.empty()) << member.errors.front();
  EXPECT_TRUE(member.refusals.empty());
  EXPECT_TRUE(outsider.joins.empty());
  EXPECT_TRUE(outsider.actions.empty());
  EXPECT_EQ(Get(origin_->url() + segmenter::ManifestPath(kVip)).status, 404);
  EXPECT_EQ(Get(origin_->url() + segmenter::ManifestPath(kVip, segmenter::Format::kProto,
                                                         segmenter::Scope::kPrivate))
                .status,
            401);
}

}  // namespace
}  // namespace roomcast::testing
