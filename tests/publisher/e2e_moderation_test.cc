// DESIGN §11 forward moderation with the real binaries: retractions before
// publication (the text reaches no object at the origin) and after it (a
// `retract` record and the `redactions` component), who may retract, bans,
// slow mode and the review delay, and a kill -9 between a retraction's ack
// and its publication. Every wait is bounded; nothing is asserted by sleep.
#include <signal.h>

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

constexpr int64_t kBucketMs = 250;

class PublisherE2eModerationTest : public PublisherE2eTest {
 protected:
  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body, const std::string& token) const {
    return Fetch(method, PublisherUrl(path), body, JsonHeaders(token));
  }
  // Posts one comment; its seq (0 if it was refused).
  uint64_t Post(const std::string& room, const std::string& text,
                const std::string& token) {
    HttpResponse r =
        PostJson("/v1/rooms/" + room + "/messages",
                 R"({"type": "comment", "text": ")" + text + "\"}", token);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.size() == 1 ? acks[0].seq : 0;
  }
  HttpResponse Retract(const std::string& room, uint64_t seq,
                       const std::string& token, const std::string& body = "") {
    return Send("DELETE",
                "/v1/rooms/" + room + "/messages/" + std::to_string(seq), body,
                token);
  }
  // Everything the room published up to now (and its review delay).
  RoomSegments ReadClosed(const std::string& room, int64_t first_k,
                          int64_t delay_ms = 0) {
    const int64_t last_k = segmenter::BucketIndex(WallMs(), kBucketMs);
    EXPECT_TRUE(
        WaitForWatermark(segmenter::BucketEnd(last_k, kBucketMs) + delay_ms,
                         std::chrono::seconds(30)));
    return ReadSegments(room, kBucketMs, first_k, last_k);
  }
  static std::vector<v1::Message> Messages(const RoomSegments& s) { return Actions(s); }
  static std::set<uint64_t> RetractedInSegments(const RoomSegments& s) {
    std::set<uint64_t> out;
    for (const auto& [k, seg] : s.segments)
      out.insert(seg.retracted().begin(), seg.retracted().end());
    return out;
  }
  // The room's manifest at the origin; empty before the first one.
  v1::Manifest Manifest(const std::string& room) const {
    v1::Manifest m;
    HttpResponse r = Get(origin_->url() + segmenter::ManifestPath(room));
    if (r.status != 200 || !m.ParseFromString(r.body)) m.Clear();
    return m;
  }
  // A component's latest value at the origin, as JSON ("" if none).
  std::string Component(const std::string& room,
                        const std::string& name) const {
    const v1::Manifest manifest = Manifest(room);
    for (const v1::ComponentVersion& c : manifest.components()) {
      if (c.name() != name) continue;
      HttpResponse r = Get(
          origin_->url() +
          segmenter::StatePath(room, name, static_cast<int64_t>(c.version())));
      v1::StateComponent sc;
      if (r.status != 200 || !sc.ParseFromString(r.body)) return "";
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(sc.value(), &json);
      return json;
    }
    return "";
  }
  // Every bucket's .json rendition at the origin, concatenated.
  std::string AllJson(const std::string& room, int64_t first_k,
                      int64_t last_k) const {
    std::string all;
    for (int64_t k = first_k; k <= last_k; ++k) {
      all +=
          Get(origin_->url() + segmenter::SegmentPath(room, kBucketMs, k,
                                                      segmenter::Format::kJson))
              .body;
    }
    return all;
  }
  std::string mod_ = Token("mod", v1::ROLE_MODERATOR, "*");
};

TEST_F(PublisherE2eModerationTest,
       RetractBeforePublicationWithReviewDelayReachesNoObject) {
  const std::string room = "mod-delay";
  OpenRoom(room, R"({"bucket_ms": 250, "review_delay_ms": 3000})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string viewer = Token("alice", v1::ROLE_AUDIENCE, room);
  const uint64_t bad = Post(room, "secret-insult-4711", viewer);
  const uint64_t good = Post(room, "hello-everyone", viewer);
  ASSERT_GT(bad, 0u);
  HttpResponse r = Retract(room, bad, mod_, R"({"reason": "abuse"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"retracted\":true"), std::string::npos) << r.body;

  RoomSegments segs = ReadClosed(room, first_k, 3000);
  EXPECT_TRUE(segs.problems.empty());
  EXPECT_TRUE(SeqContinuous(segs));
  EXPECT_EQ(RetractedInSegments(segs), std::set<uint64_t>{bad});
  std::vector<uint64_t> kept;
  for (const v1::Message& m : Messages(segs)) {
    kept.push_back(m.seq());
    EXPECT_EQ(m.comment().text().find("secret"), std::string::npos);
  }
  EXPECT_EQ(kept,
            std::vector<uint64_t>{good});  // no retract record: it never left
  const std::string json =
      AllJson(room, first_k, segmenter::BucketIndex(WallMs(), kBucketMs));
  EXPECT_NE(json.find("hello-everyone"), std::string::npos);
  EXPECT_EQ(json.find("secret-insult"), std::string::npos);
  for (const auto& [k, bytes] : segs.bytes)
    EXPECT_EQ(bytes.find("secret-insult"), std::string::npos);
  const v1::Manifest m = Manifest(room);
  EXPECT_EQ(m.review_delay_ms(), 3000u);
  EXPECT_NE(Component(room, "redactions").find(std::to_string(bad)),
            std::string::npos);
  EXPECT_NE(Component(room, "settings").find("\"review_delay_ms\":3000"),
            std::string::npos);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eModerationTest,
       RetractAfterPublicationPublishesRecordAndRedactions) {
  const std::string room = "mod-after";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const uint64_t seq = Post(room, "published-then-regretted",
                            Token("bob", v1::ROLE_AUDIENCE, room));
  RoomSegments before = ReadClosed(room, first_k);
  ASSERT_EQ(Messages(before).size(), 1u);  // published as it was

  ASSERT_EQ(Retract(room, seq, mod_, R"({"reason": "spoiler"})").status, 200);
  RoomSegments after = ReadClosed(room, first_k);
  EXPECT_TRUE(SeqContinuous(after));
  EXPECT_TRUE(RetractedInSegments(after).empty());
  std::vector<v1::Message> records;
  for (const v1::Message& m : Messages(after)) {
    if (m.has_retract()) records.push_back(m);
  }
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].retract().seqs_size(), 1);
  EXPECT_EQ(records[0].retract().seqs(0), seq);
  EXPECT_EQ(records[0].retract().reason(), "spoiler");
  EXPECT_EQ(records[0].sender(), "mod");
  EXPECT_EQ(records[0].role(), v1::ROLE_MODERATOR);
  EXPECT_GT(records[0].seq(), seq);
  EXPECT_EQ(Component(room, "redactions"),
            "{\"seqs\":[" + std::to_string(seq) + "]}");
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eModerationTest, RetractRolesAreEnforced) {
  const std::string room = "mod-roles";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const std::string alice = Token("alice", v1::ROLE_AUDIENCE, room);
  const std::string eve = Token("eve", v1::ROLE_AUDIENCE, room);
  const uint64_t a1 = Post(room, "one", alice);
  const uint64_t a2 = Post(room, "two", alice);
  const uint64_t a3 = Post(room, "three", alice);
  const uint64_t a4 = Post(room, "four", alice);
  EXPECT_TRUE(IsJsonError(Retract(room, a1, eve), 403));  // someone else's
  EXPECT_EQ(Retract(room, a1, alice).status, 200);        // its own
  EXPECT_EQ(Retract(room, a2, Token("host", v1::ROLE_ANCHOR, room)).status,
            200);
  EXPECT_EQ(Retract(room, a3, service_token_).status, 200);
  EXPECT_EQ(Retract(room, a4, mod_).status, 200);
  // Moderation calls refuse the audience before their body is read.
  EXPECT_TRUE(IsJsonError(
      Send("POST", "/v1/rooms/" + room + "/bans", R"({"user": "alice"})", eve),
      403));
  EXPECT_TRUE(IsJsonError(
      Send("DELETE", "/v1/rooms/" + room + "/bans/alice", "", eve), 403));
  EXPECT_TRUE(IsJsonError(
      Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 5})", eve), 403));
  EXPECT_TRUE(IsJsonError(Retract(room, a1, ""), 401));
}

TEST_F(PublisherE2eModerationTest, RetractUnknownSeqIs404) {
  const std::string room = "mod-unknown";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const uint64_t seq =
      Post(room, "only", Token("alice", v1::ROLE_AUDIENCE, room));
  EXPECT_TRUE(IsJsonError(Retract(room, seq + 1, mod_), 404));  // not yet sent
  EXPECT_TRUE(IsJsonError(Retract(room, 0, mod_), 404));
  EXPECT_TRUE(IsJsonError(Retract(room, 12345678, mod_), 404));
  EXPECT_TRUE(IsJsonError(Retract("no-such-room", 1, mod_), 404));
  EXPECT_TRUE(IsJsonError(
      Send("DELETE", "/v1/rooms/" + room + "/messages/abc", "", mod_), 400));
  EXPECT_TRUE(IsJsonError(Retract(room, seq, mod_, "{\"reason\": 5"),
                          400));  // bad body
}

TEST_F(PublisherE2eModerationTest, ModerationBodiesAreBoundedAndChecked) {
  const std::string room = "mod-bodies";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const uint64_t seq = Post(room, "x", Token("alice", v1::ROLE_AUDIENCE, room));
  const std::string huge = "{\"reason\": \"" + std::string(8000, 'a') + "\"}";
  EXPECT_TRUE(IsJsonError(Retract(room, seq, mod_, huge), 413));
  EXPECT_TRUE(
      IsJsonError(Retract(room, seq, mod_,
                          "{\"reason\": \"" + std::string(300, 'a') + "\"}"),
                  400));
  const std::string bans = "/v1/rooms/" + room + "/bans";
  EXPECT_TRUE(IsJsonError(
      Send("POST", bans, R"({"user": "bob", "colour": 1})", mod_), 400));
  EXPECT_TRUE(IsJsonError(
      Send("POST", bans, R"({"user": "no such user!"})", mod_), 400));
  EXPECT_TRUE(IsJsonError(
      Send("POST", bans, R"({"user": "bob", "duration_s": 0})", mod_), 400));
  EXPECT_TRUE(IsJsonError(
      Send("POST", bans, R"({"user": "bob", "retract_recent_s": 3601})", mod_),
      400));
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "[";
  EXPECT_TRUE(IsJsonError(Send("PATCH", "/v1/rooms/" + room, deep, mod_), 400));
  EXPECT_TRUE(IsJsonError(
      Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 3601})", mod_),
      400));
  // The components moderation owns are not for PUT.
  HttpResponse put =
      Fetch("PUT", PublisherUrl("/v1/rooms/" + room + "/state/redactions"),
            R"({"seqs": []})", JsonHeaders(mod_));
  EXPECT_TRUE(IsJsonError(put, 403));
  // None of it changed the room: the message is still there, not retracted.
  EXPECT_EQ(Retract(room, seq, mod_).status, 200);
}

TEST_F(PublisherE2eModerationTest, RetractRepeatIsIdempotent) {
  const std::string room = "mod-repeat";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const uint64_t seq =
      Post(room, "twice", Token("alice", v1::ROLE_AUDIENCE, room));
  ReadClosed(room, first_k);  // published, so a retraction is a record
  HttpResponse first = Retract(room, seq, mod_);
  HttpResponse again = Retract(room, seq, mod_);
  HttpResponse third = Retract(room, seq, service_token_);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(third.body, first.body);
  RoomSegments segs = ReadClosed(room, first_k);
  EXPECT_TRUE(SeqContinuous(segs));
  size_t records = 0;
  for (const v1::Message& m : Messages(segs)) records += m.has_retract();
  EXPECT_EQ(records, 1u);
}

TEST_F(PublisherE2eModerationTest,
       BanRefusesWritesRetractsRecentAndUnbanLiftsIt) {
  const std::string room = "mod-ban";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string spammer = Token("spammer", v1::ROLE_AUDIENCE, room);
  const uint64_t s1 = Post(room, "buy-cheap-1", spammer);
  const uint64_t other =
      Post(room, "innocent", Token("alice", v1::ROLE_AUDIENCE, room));
  const uint64_t s2 = Post(room, "buy-cheap-2", spammer);
  HttpResponse ban =
      Send("POST", "/v1/rooms/" + room + "/bans",
           R"({"user": "spammer", "duration_s": 600, "retract_recent_s": 300,
                              "reason": "spam"})",
           mod_);
  ASSERT_EQ(ban.status, 200) << ban.body;
  v1::BanReply reply;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(ban.body, &reply).ok())
      << ban.body;
  EXPECT_EQ(
      std::set<uint64_t>(reply.retracted().begin(), reply.retracted().end()),
      (std::set<uint64_t>{s1, s2}));
  EXPECT_GT(reply.until_ms(), WallMs() + 500'000);

  HttpResponse refused =
      PostJson("/v1/rooms/" + room + "/messages",
               R"({"type": "comment", "text": "again"})", spammer);
  EXPECT_TRUE(IsJsonError(refused, 403));
  v1::ErrorReply e;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(refused.body, &e).ok());
  EXPECT_EQ(e.error(), "banned");
  EXPECT_EQ(e.until_ms(), reply.until_ms());
  EXPECT_NE(
      refused.body.find("\"until_ms\":" + std::to_string(reply.until_ms())),
      std::string::npos);

  RoomSegments segs = ReadClosed(room, first_k);
  EXPECT_TRUE(SeqContinuous(segs));
  std::set<uint64_t> retracted = RetractedInSegments(segs);
  const v1::Message* ban_record = nullptr;
  std::vector<v1::Message> msgs = Messages(segs);
  std::set<uint64_t> comments;
  for (const v1::Message& m : msgs) {
    if (m.has_retract())
      retracted.insert(m.retract().seqs().begin(), m.retract().seqs().end());
    if (m.has_ban()) ban_record = &m;
    if (m.has_comment()) comments.insert(m.seq());
  }
  EXPECT_EQ(retracted, (std::set<uint64_t>{s1, s2}));
  // A spam comment published before the ban is there, and retracted by a
  // record after it; one still open is not there at all.
  for (uint64_t seq : comments) {
    EXPECT_TRUE(seq == other || retracted.contains(seq)) << "seq " << seq;
  }
  EXPECT_TRUE(comments.contains(other));
  ASSERT_NE(ban_record, nullptr);
  EXPECT_EQ(ban_record->ban().user(), "spammer");
  EXPECT_EQ(ban_record->ban().until_ms(), reply.until_ms());
  EXPECT_EQ(ban_record->ban().reason(), "spam");

  HttpResponse unban =
      Send("DELETE", "/v1/rooms/" + room + "/bans/spammer", "", mod_);
  ASSERT_EQ(unban.status, 200) << unban.body;
  EXPECT_EQ(
      Send("DELETE", "/v1/rooms/" + room + "/bans/spammer", "", mod_).body,
      unban.body);
  EXPECT_GT(Post(room, "sorry", spammer), 0u);
  size_t lifted = 0;
  for (const v1::Message& m : Messages(ReadClosed(room, first_k))) {
    lifted +=
        m.has_ban() && m.ban().user() == "spammer" && m.ban().until_ms() == 0;
  }
  EXPECT_EQ(lifted, 1u);
}

TEST_F(PublisherE2eModerationTest, SilentBanPublishesNoRecord) {
  const std::string room = "mod-silent";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string troll = Token("troll", v1::ROLE_AUDIENCE, room);
  Post(room, "hi", troll);
  ASSERT_EQ(Send("POST", "/v1/rooms/" + room + "/bans",
                 R"({"user": "troll", "silent": true})", mod_)
                .status,
            200);
  EXPECT_TRUE(
      IsJsonError(PostJson("/v1/rooms/" + room + "/messages",
                           R"({"type": "comment", "text": "x"})", troll),
                  403));
  ASSERT_EQ(
      Send("DELETE", "/v1/rooms/" + room + "/bans/troll", "", mod_).status,
      200);
  RoomSegments segs = ReadClosed(room, first_k);
  for (const v1::Message& m : Messages(segs)) EXPECT_FALSE(m.has_ban());
  EXPECT_EQ(Messages(segs).size(), 1u);  // "hi" (retract_recent_s was 0)
}

TEST_F(PublisherE2eModerationTest, SlowModeLimitsAudienceButNotModerators) {
  const std::string room = "mod-slow";
  OpenRoom(room, R"({"bucket_ms": 250})");
  HttpResponse set =
      Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 30})", mod_);
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.body, "{\"slow_mode_s\":30,\"review_delay_ms\":0}\n");
  EXPECT_TRUE(IsJsonError(
      Send("PATCH", "/v1/rooms/" + room, R"({"review_delay_ms": 30001})", mod_),
      400));
  const std::string viewer = Token("alice", v1::ROLE_AUDIENCE, room);
  EXPECT_GT(Post(room, "first", viewer), 0u);
  HttpResponse slow =
      PostJson("/v1/rooms/" + room + "/messages",
               R"({"type": "comment", "text": "second"})", viewer);
  EXPECT_TRUE(IsJsonError(slow, 429));
  int retry_after = 0;
  EXPECT_TRUE(absl::SimpleAtoi(slow.header("retry-after"), &retry_after))
      << slow.header("retry-after");
  EXPECT_GE(retry_after, 25);
  EXPECT_LE(retry_after, 30);
  // Another viewer has its own clock; moderators and anchors none.
  EXPECT_GT(Post(room, "first", Token("bob", v1::ROLE_AUDIENCE, room)), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_GT(Post(room, "mod says", mod_), 0u);
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  for (int i = 0; i < 3; ++i) EXPECT_GT(Post(room, "host says", anchor), 0u);
  // The component `settings` carries it, once published.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string settings;
  while (std::chrono::steady_clock::now() < deadline &&
         (settings = Component(room, "settings")).find("\"slow_mode_s\":30") ==
             std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(settings.find("\"slow_mode_s\":30"), std::string::npos) << settings;
  // Off again: the viewer may post at once.
  ASSERT_EQ(
      Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 0})", mod_).status,
      200);
  EXPECT_GT(Post(room, "third", viewer), 0u);
}

TEST_F(PublisherE2eModerationTest,
       KillNineBetweenRetractionAckAndPublicationPublishesIt) {
  const std::string room = "mod-crash";
  constexpr int64_t kDelay = 2000;
  OpenRoom(room, R"({"bucket_ms": 250, "review_delay_ms": 2000})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string viewer = Token("alice", v1::ROLE_AUDIENCE, room);
  const uint64_t old_seq = Post(room, "already-out", viewer);
  ReadClosed(room, first_k, kDelay);  // published (past the delay)
  const uint64_t new_seq = Post(room, "never-out-9931", viewer);
  // Both acked, neither published: the delay holds the one, the next round
  // the other's record.
  ASSERT_EQ(Retract(room, old_seq, mod_).status, 200);
  ASSERT_EQ(Retract(room, new_seq, mod_).status, 200);
  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();

  RoomSegments segs = ReadClosed(room, first_k, kDelay);
  EXPECT_TRUE(segs.problems.empty());
  EXPECT_TRUE(SeqContinuous(segs));
  EXPECT_EQ(RetractedInSegments(segs), std::set<uint64_t>{new_seq});
  size_t records = 0;
  for (const v1::Message& m : Messages(segs)) {
    if (m.has_retract()) {
      ++records;
      EXPECT_EQ(std::vector<uint64_t>(m.retract().seqs().begin(),
                                      m.retract().seqs().end()),
                std::vector<uint64_t>{old_seq});
    }
  }
  EXPECT_EQ(records, 1u);
  EXPECT_EQ(AllJson(room, first_k, segmenter::BucketIndex(WallMs(), kBucketMs))
                .find("never-out"),
            std::string::npos);
  const std::string redactions = Component(room, "redactions");
  EXPECT_EQ(redactions, "{\"seqs\":[" + std::to_string(old_seq) + "," +
                            std::to_string(new_seq) + "]}");
  // The ban survives a restart too.
  ASSERT_EQ(
      Send("POST", "/v1/rooms/" + room + "/bans", R"({"user": "alice"})", mod_)
          .status,
      200);
  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  EXPECT_TRUE(
      IsJsonError(PostJson("/v1/rooms/" + room + "/messages",
                           R"({"type": "comment", "text": "x"})", viewer),
                  403));
  EXPECT_EQ(ImmutableConflicts(), 0);
}

}  // namespace
}  // namespace roomcast::testing
