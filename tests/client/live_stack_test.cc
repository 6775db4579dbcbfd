// Live segments end to end (DESIGN §10): a real roomcast-publisher pushing
// open buckets to a real roomcast-origin, which streams them. A follower and
// `roomcast tail` get each message before its bucket closes (asserted by the
// order of events: the origin's watermark has not passed the message's
// bucket when it is delivered), and a stream cut by a kill -9 of the origin
// is asked again: every message exactly once, in seq order. State changes
// and peer messages reach a streaming follower as notices in the stream
// (DESIGN §10): no manifest read after its join.
#include <signal.h>

#include <future>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "client/client.h"
#include "segmenter/bucketer.h"
#include "tests/client/recorder.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "live";
// Long buckets: a message posted early in one has most of it to arrive
// before the bucket closes, on a loaded machine too.
constexpr int64_t kD = 2000;

class LiveStackTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, absl::StrCat(R"({"bucket_ms": )", kD, "}"));
  }
  Ack Post(const std::string& text) { return PostComment(kRoom, text); }
  // Runs `c` until a bucket has just begun (its first tenth is over), so
  // what is posted next has most of the bucket ahead of it.
  static void IdleToBucketStart(client::Client& c) {
    const int64_t into = WallMs() % kD;
    c.RunUntil([] { return false; },
               Clock::now() + std::chrono::milliseconds(kD - into + kD / 10));
  }
  static int64_t EndOf(const v1::Message& m) { return EndOfMs(m.ts_ms()); }
  static int64_t EndOfMs(int64_t ts_ms) {
    return segmenter::BucketEnd(segmenter::BucketIndex(ts_ms, kD), kD);
  }
  // Sets a component to a JSON value, as a moderator.
  void SetState(const std::string& name, const std::string& json_value) {
    HttpResponse r =
        Fetch("PUT", PublisherUrl(absl::StrCat("/v1/rooms/", kRoom, "/state/", name)), json_value,
              JsonHeaders(Token("mod-1", v1::ROLE_MODERATOR, kRoom, 600)));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  Ack Peer(const std::string& user, const std::string& text) {
    HttpResponse r = PostJson(absl::StrCat("/v1/rooms/", kRoom, "/peer/", user),
                              absl::StrCat(R"({"type":"comment","text":")", text, R"("})"),
                              Token("mod-1", v1::ROLE_MODERATOR, kRoom, 600));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.empty() ? Ack{} : acks[0];
  }
  // Requests the origin counted, of one class (every status, or one).
  double OriginRequests(const std::string& cls, const std::string& status = "") const {
    std::string filter = absl::StrCat("class=\"", cls, "\"");
    if (!status.empty()) absl::StrAppend(&filter, ",status=\"", status, "\"");
    return origin_->Metric("roomcast_origin_requests_total", filter);
  }
  // Runs `c` until the latest state delivered is `name` = `value`.
  static bool WaitForState(client::Client& c, const Recorder& rec, const std::string& name,
                           const std::string& value) {
    return c.RunUntil(
        [&] {
          return !rec.states.empty() && rec.states.back().name() == name &&
                 rec.states.back().value().string_value() == value;
        },
        Clock::now() + 8s);
  }
};

std::vector<uint64_t> SeqsOf(const std::vector<Ack>& acks) {
  std::vector<uint64_t> out;
  for (const Ack& a : acks) out.push_back(a.seq);
  return out;
}

TEST_F(LiveStackTest, AFollowerGetsEachMessageBeforeItsBucketCloses) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  client::Callbacks cb = rec.Callbacks();
  // At each delivery: how far the origin's watermark (the close) had got.
  std::vector<std::pair<int64_t, int64_t>> watermark_and_end;
  cb.on_action = [&, inner = cb.on_action](const v1::Message& m) {
    watermark_and_end.emplace_back(OriginWatermarkMs(), EndOf(m));
    inner(m);
  };
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold}, cb);
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  std::vector<Ack> acks;
  for (int round = 0; round < 2; ++round) {
    IdleToBucketStart(c);
    acks.push_back(Post(absl::StrCat("first of round ", round)));
    acks.push_back(Post(absl::StrCat("second of round ", round)));
  }
  ASSERT_TRUE(c.RunUntil([&] { return rec.actions.size() >= acks.size(); }, Clock::now() + 10s))
      << "delivered " << rec.actions.size();
  c.RunUntil([] { return false; }, Clock::now() + 500ms);  // anything repeated shows now
  EXPECT_EQ(rec.Seqs(), SeqsOf(acks));
  ASSERT_EQ(watermark_and_end.size(), acks.size());
  for (const auto& [watermark, end] : watermark_and_end) {
    EXPECT_LT(watermark, end) << "delivered only once its bucket had closed";
  }
  EXPECT_EQ(c.Stats(id).live_actions, acks.size());
  EXPECT_TRUE(rec.gaps.empty());
}

TEST_F(LiveStackTest, TailPrintsAMessageBeforeItsBucketCloses) {
  // Started and joined (its first bucket asked for) before the post.
  auto tail = std::async(std::launch::async, [&] {
    return Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--json", "--count", "1",
                "--mode", "bucket", "--duration-ms", "15000"},
               {}, 20s);
  });
  client::Client c({.base_url = origin_->url()});
  IdleToBucketStart(c);  // tail has joined by now (it joins within ~D)
  const Ack ack = Post("printed live");
  RunResult r = tail.get();
  // tail exits as soon as it printed its one message: the bucket is open.
  const int64_t watermark = OriginWatermarkMs();
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<v1::Message> got = JsonMessages(r.out);
  ASSERT_EQ(got.size(), 1u) << r.out;
  EXPECT_EQ(got[0].seq(), ack.seq);
  EXPECT_LT(watermark, EndOf(got[0])) << "printed only once its bucket had closed";
}

// tail prints a state change it learned from the stream's notice as it
// prints one from the manifest ({"state": …}), once, and never prints a
// notice as a message.
TEST_F(LiveStackTest, TailPrintsAStateChangeFromItsNoticeOnce) {
  auto tail = std::async(std::launch::async, [&] {
    return Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--json", "--mode", "bucket",
                "--duration-ms", "7000"},
               {}, 20s);
  });
  client::Client c({.base_url = origin_->url()});
  IdleToBucketStart(c);  // tail has joined by now (it joins within ~D)
  SetState("title", R"("from the stream")");
  const Ack ack = Post("after the title");
  RunResult r = tail.get();
  ASSERT_EQ(r.status, 0) << r.err;
  int states = 0;
  std::vector<uint64_t> seqs;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, R"({"state":)")) {
      EXPECT_TRUE(absl::StrContains(line, "from the stream")) << line;
      ++states;
      continue;
    }
    v1::Message m;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &m).ok()) << line;
    seqs.push_back(m.seq());
  }
  EXPECT_EQ(states, 1) << r.out;
  EXPECT_EQ(seqs, std::vector<uint64_t>{ack.seq}) << r.out;
}

TEST_F(LiveStackTest, AStreamCutByAKilledOriginDeliversEveryMessageOnceInOrder) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold},
                     rec.Callbacks());
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  IdleToBucketStart(c);
  std::vector<Ack> acks = {Post("before the kill 1"), Post("before the kill 2")};
  ASSERT_TRUE(c.RunUntil([&] { return rec.actions.size() >= 2; }, Clock::now() + 5s));

  // kill -9 mid-bucket: the stream ends without its summary.
  const std::string listen = origin_->url().substr(std::string("http://").size());
  origin_->Stop(SIGKILL);
  acks.push_back(Post("while the origin is down"));
  c.RunUntil([] { return false; }, Clock::now() + 300ms);  // the client sees the cut
  ASSERT_TRUE(origin_->Start(listen)) << "roomcast-origin did not restart";
  acks.push_back(Post("after the restart 1"));
  acks.push_back(Post("after the restart 2"));

  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() >= acks.back().seq; }, Clock::now() + 20s))
      << "delivered up to seq " << rec.LastSeq();
  c.RunUntil([] { return false; }, Clock::now() + 500ms);
  EXPECT_EQ(rec.Seqs(), SeqsOf(acks));
  EXPECT_TRUE(rec.gaps.empty());
  EXPECT_GE(c.Stats(id).errors, 1u);  // the cut was seen, and retried
}

// State set while a follower streams: each change reaches it from the
// stream, before the bucket that holds it closes, and the follower reads
// the manifest only at its join (no polling), fetching no component.
TEST_F(LiveStackTest, StateSetWhileStreamingArrivesFromTheStreamWithNoManifestRead) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  client::Callbacks cb = rec.Callbacks();
  // At each state delivery: whether the bucket holding the change was
  // still open at the origin (streamed, no ETag yet), and the watermark.
  std::vector<std::pair<int64_t, int64_t>> watermark_and_end;
  std::vector<bool> open_when_delivered;
  cb.on_state = [&, inner = cb.on_state](const v1::StateComponent& s) {
    const int64_t k = segmenter::BucketIndex(s.ts_ms(), kD);
    const HttpResponse head = Fetch("HEAD", origin_->url() + segmenter::SegmentPath(kRoom, kD, k));
    open_when_delivered.push_back(head.status == 200 && head.header("etag").empty());
    watermark_and_end.emplace_back(OriginWatermarkMs(), EndOfMs(s.ts_ms()));
    inner(s);
  };
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold}, cb);
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  // The join's reads (a 404 is asked again until the room's first manifest).
  // Counted by the follower's one request path: the origin's metrics cannot
  // tell a manifest GET from the publisher's PUT (both 200).
  const uint64_t join_reads = c.Stats(id).manifest_requests;

  IdleToBucketStart(c);
  SetState("title", R"("first title")");
  ASSERT_TRUE(WaitForState(c, rec, "title", "first title"));
  const Ack between = Post("between the changes");
  SetState("pinned", R"("welcome")");
  ASSERT_TRUE(WaitForState(c, rec, "pinned", "welcome"));
  IdleToBucketStart(c);
  SetState("title", R"("second title")");
  ASSERT_TRUE(WaitForState(c, rec, "title", "second title"));
  ASSERT_TRUE(c.RunUntil([&] { return rec.LastSeq() >= between.seq; }, Clock::now() + 8s));
  c.RunUntil([] { return false; }, Clock::now() + 500ms);  // anything repeated shows now

  ASSERT_EQ(rec.states.size(), 3u);
  EXPECT_EQ(rec.states[1].name(), "pinned");
  EXPECT_EQ(rec.states[2].name(), "title");
  EXPECT_GT(rec.states[2].version(), rec.states[0].version());
  for (const auto& [watermark, end] : watermark_and_end) {
    EXPECT_LT(watermark, end) << "a state change arrived only once its bucket had closed";
  }
  EXPECT_EQ(open_when_delivered, std::vector<bool>(3, true));
  EXPECT_EQ(rec.Seqs(), std::vector<uint64_t>{between.seq});  // no notice shown as an action
  EXPECT_EQ(c.Stats(id).manifest_requests, join_reads) << "the manifest was read after the join";
  EXPECT_EQ(c.Stats(id).state_requests, 0u);  // each notice held its component whole
  EXPECT_TRUE(rec.gaps.empty());
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.front();
}

// A component over 4 KiB rides in its notice without its value: the
// follower fetches it, and gets the value that was set.
TEST_F(LiveStackTest, ABigComponentsNoticeLeadsToItsObject) {
  client::Client c({.base_url = origin_->url()});
  Recorder rec;
  auto id = c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold}, rec.Callbacks());
  ASSERT_TRUE(c.RunUntil([&] { return !rec.joins.empty(); }, Clock::now() + 5s));
  const uint64_t join_reads = c.Stats(id).manifest_requests;
  const double fetched = OriginRequests("state", "200");
  const std::string big(6000, 'x');
  IdleToBucketStart(c);
  SetState("board", absl::StrCat("\"", big, "\""));
  ASSERT_TRUE(WaitForState(c, rec, "board", big));
  c.RunUntil([] { return false; }, Clock::now() + 300ms);

  ASSERT_EQ(rec.states.size(), 1u);
  EXPECT_EQ(rec.states[0].value().string_value().size(), big.size());
  EXPECT_GE(c.Stats(id).state_requests, 1u);
  EXPECT_EQ(OriginRequests("state", "200") - fetched, 1);
  EXPECT_EQ(c.Stats(id).manifest_requests, join_reads);
}

// A peer message: its notice's tag matches only its recipient's key, so
// the recipient fetches the peer object once the bucket closed, and
// another streaming follower never asks for one.
TEST_F(LiveStackTest, APeerNoticeLeadsOnlyItsRecipientToThePeerObject) {
  client::Client c({.base_url = origin_->url(), .publisher_url = publisher_->url()});
  Recorder alice, bob;
  client::Callbacks cb = alice.Callbacks();
  // At each peer delivery: whether the origin had the bucket's complete
  // object (an ETag: it closed), not a stream in progress.
  int64_t peer_bucket = -1;
  std::vector<bool> closed_when_fetched;
  cb.on_peer = [&, inner = cb.on_peer](const v1::Message& m) {
    const HttpResponse head =
        Fetch("HEAD", origin_->url() + segmenter::SegmentPath(kRoom, kD, peer_bucket));
    closed_when_fetched.push_back(head.status == 200 && !head.header("etag").empty());
    inner(m);
  };
  const auto follow = [&](const std::string& user, client::Callbacks callbacks) {
    return c.Follow({.room = kRoom, .mode = client::FollowMode::kBucketHold, .user = user,
                     .token = Token(user, v1::ROLE_AUDIENCE, kRoom, 600)},
                    std::move(callbacks));
  };
  auto a = follow("alice", cb);
  auto b = follow("bob", bob.Callbacks());
  ASSERT_TRUE(c.RunUntil([&] { return !alice.joins.empty() && !bob.joins.empty(); },
                         Clock::now() + 5s));
  const double peer_gets = OriginRequests("peer", "200");  // GETs (the PUT gets 201)
  const uint64_t alice_reads = c.Stats(a).manifest_requests;
  const uint64_t bob_reads = c.Stats(b).manifest_requests;
  IdleToBucketStart(c);
  const Ack pub = Post("for everyone");
  const Ack peer = Peer("alice", "thanks for the gift");
  ASSERT_NE(peer.seq, 0u);
  peer_bucket = peer.bucket;
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return alice.peers.size() == 1 && alice.LastSeq() >= pub.seq && bob.LastSeq() >= pub.seq;
      },
      Clock::now() + 10s))
      << "alice has " << alice.peers.size() << " peer messages";
  // Bob's follower reads the bucket after it too: a wrong match would show.
  const int64_t after = segmenter::BucketIndex(peer.ts_ms, kD) + 1;
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(after, kD), 8s));
  c.RunUntil([] { return false; }, Clock::now() + 500ms);

  ASSERT_EQ(alice.peers.size(), 1u);
  EXPECT_EQ(alice.peers[0].comment().text(), "thanks for the gift");
  ASSERT_EQ(closed_when_fetched.size(), 1u);
  EXPECT_TRUE(closed_when_fetched[0]) << "fetched before its bucket closed";
  EXPECT_TRUE(bob.peers.empty());
  EXPECT_EQ(c.Stats(b).peer_requests, 0u) << "bob asked for a peer object";
  EXPECT_GE(c.Stats(a).peer_requests, 1u);
  EXPECT_EQ(OriginRequests("peer", "200") - peer_gets, 1);  // alice's, once
  EXPECT_EQ(alice.Seqs(), std::vector<uint64_t>{pub.seq});
  EXPECT_EQ(c.Stats(a).manifest_requests, alice_reads);
  EXPECT_EQ(c.Stats(b).manifest_requests, bob_reads);
}

}  // namespace
}  // namespace roomcast::testing
