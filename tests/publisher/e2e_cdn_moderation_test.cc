// Issue 12's acceptance: each row of DESIGN §11's table through the real
// publisher and origin and through a real cache from the reference configs
// (nginx and Varnish, one per test): a retraction before publication (review
// delay) reaches no object and no cache, in any rendition or encoding; one
// after it is a `retract` record and the `redactions` component; bans, slow
// mode and an expiring pin, each as a viewer behind the cache sees it; a
// takedown, which the origin purges from the cache (public and private).
// Every wait is a bounded poll; nothing is timed.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "base/crypto.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "segmenter/bucketer.h"
#include "tests/publisher/cdn_e2e_fixture.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;

std::set<uint64_t> RetractedIn(const v1::ActionSegment& seg) {
  std::set<uint64_t> out(seg.retracted().begin(), seg.retracted().end());
  for (const v1::Message& m : seg.messages()) {
    if (m.has_retract()) out.insert(m.retract().seqs().begin(), m.retract().seqs().end());
  }
  return out;
}

bool Lists(const v1::Manifest& m, const std::string& component) {
  for (const v1::ComponentVersion& c : m.components()) {
    if (c.name() == component) return true;
  }
  return false;
}

// §11 row "retract", before publication: with a review delay the text
// reaches no segment, no rollup, no rendition and no encoding, at the origin
// or in the cache; the segment lists the seq as retracted, seq contiguous.
TEST_P(CdnModerationE2eTest, RetractInReviewDelayReachesNoObjectAndNoCache) {
  const std::string room = "cdn-delay";
  constexpr int64_t kDelay = 1500;
  OpenRoom(room, R"({"bucket_ms": 250, "review_delay_ms": 1500})");
  const std::string viewer = Token("alice", v1::ROLE_AUDIENCE, room);
  const int64_t first_ms = WallMs();
  const uint64_t before = Post(room, "before-it-4711", viewer);
  const uint64_t bad = Post(room, "secret-insult-4711", viewer);
  const uint64_t after = Post(room, "after-it-4711", viewer);
  ASSERT_GT(bad, 0u);
  ASSERT_EQ(Retract(room, bad, mod_, R"({"reason": "abuse"})").status, 200);
  const int64_t posted_ms = WallMs();  // every post's ts_ms is at or before
  const int64_t posted_k = BucketIndex(posted_ms, kBucketMs);
  // A viewer asking early through the cache gets no text either (whether
  // the origin holds it or says "not yet"; a "not yet" the cache keeps is
  // asked again below, as a client does).
  const HttpResponse early = Get(
      cache_->url() + SegmentPaths(room, kBucketMs, posted_k).second);
  EXPECT_EQ(early.body.find("secret-insult"), std::string::npos);

  const int64_t first_k = BucketIndex(first_ms, kBucketMs);
  const int64_t last_k = WaitUntilPublished(kDelay);
  RoomSegments segs;
  std::string all_json;
  int gzipped = 0;  // answers that came compressed (the rest were smaller plain)
  for (int64_t k = first_k; k <= last_k; ++k) {
    const std::vector<Rendition> all = EverywhereRenditions(SegmentPaths(room, kBucketMs, k));
    for (const Rendition& r : all) {
      EXPECT_EQ(r.body.find("secret-insult"), std::string::npos) << r.label;
      if (r.label.find(".json") != std::string::npos) all_json += r.body;
      gzipped += r.response.header("content-encoding") == "gzip";
    }
    ASSERT_TRUE(segs.segments[k].ParseFromString(all.front().body)) << all.front().label;
  }
  // The renditions read are the real ones: the others' text is in them.
  EXPECT_NE(all_json.find("before-it-4711"), std::string::npos);
  EXPECT_NE(all_json.find("after-it-4711"), std::string::npos);
  EXPECT_GT(gzipped, 0) << "no rendition was served gzipped: the gzip path went untested";
  EXPECT_TRUE(SeqContinuous(segs));
  std::set<uint64_t> retracted, kept;
  for (const auto& [k, seg] : segs.segments) {
    retracted.insert(seg.retracted().begin(), seg.retracted().end());
  }
  for (const v1::Message& m : Actions(segs)) kept.insert(m.seq());
  EXPECT_EQ(retracted, std::set<uint64_t>{bad});
  EXPECT_EQ(kept, (std::set<uint64_t>{before, after}));  // and no retract record

  // The rollups of those buckets: the same.
  std::set<uint64_t> rolled_up;
  bool listed = false;  // some rollup lists the seq as retracted
  for (int64_t w = BucketIndex(first_ms, kRollupMs); w <= BucketIndex(posted_ms, kRollupMs);
       ++w) {
    const PathPair paths = SegmentPaths(room, kRollupMs, w);
    WaitFor200(origin_->url() + paths.first);
    const std::vector<Rendition> all = EverywhereRenditions(paths);
    for (const Rendition& r : all) {
      EXPECT_EQ(r.body.find("secret-insult"), std::string::npos) << r.label;
    }
    v1::ActionSegment rollup;
    ASSERT_TRUE(rollup.ParseFromString(all.front().body)) << all.front().label;
    listed |= RetractedIn(rollup).contains(bad);
    for (const v1::Message& m : rollup.messages()) rolled_up.insert(m.seq());
  }
  EXPECT_EQ(rolled_up, (std::set<uint64_t>{before, after}));
  EXPECT_TRUE(listed) << "no rollup lists seq " << bad << " as retracted";
  EXPECT_NE(WaitForCachedComponent(room, "redactions", std::to_string(bad)), "");
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// §11 row "retract", after publication: a `retract` record in a later
// segment and `redactions` listing the seq, through the cache (component,
// snapshot, manifest); who may retract; 404 for an unknown seq; a repeat
// answers the same and publishes nothing more.
TEST_P(CdnModerationE2eTest, RetractAfterPublicationIsARecordAndRedactions) {
  const std::string room = "cdn-after";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = BucketIndex(WallMs(), kBucketMs);
  const std::string alice = Token("alice", v1::ROLE_AUDIENCE, room);
  const uint64_t seq = Post(room, "regretted-4711", alice);
  const uint64_t own = Post(room, "typo-4711", alice);
  ASSERT_GT(own, seq);
  int64_t k = WaitUntilPublished();
  std::string published;
  for (const auto& [kk, seg] : CachedSegments(room, first_k, k).segments)
    for (const v1::Message& m : seg.messages()) published += m.comment().text();
  ASSERT_NE(published.find("regretted-4711"), std::string::npos);  // it is out

  // Another viewer may not; the sender may, its own; an unknown seq is 404.
  EXPECT_TRUE(IsJsonError(Retract(room, seq, Token("eve", v1::ROLE_AUDIENCE, room)), 403));
  EXPECT_TRUE(IsJsonError(Retract(room, own + 1000, mod_), 404));
  EXPECT_TRUE(IsJsonError(Retract(room, 0, mod_), 404));
  const HttpResponse first = Retract(room, seq, mod_, R"({"reason": "spoiler"})");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(Retract(room, own, alice).status, 200);
  const HttpResponse again = Retract(room, seq, mod_, R"({"reason": "spoiler"})");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(Retract(room, seq, service_token_).body, first.body);

  k = WaitUntilPublished();
  const RoomSegments segs = CachedSegments(room, first_k, k);
  EXPECT_TRUE(segs.problems.empty());
  EXPECT_TRUE(SeqContinuous(segs));
  std::vector<v1::Message> records;
  for (const v1::Message& m : Messages(segs)) {
    if (m.has_retract()) records.push_back(m);
  }
  ASSERT_EQ(records.size(), 2u) << "one per retraction, none for the repeats";
  EXPECT_EQ(std::vector<uint64_t>(records[0].retract().seqs().begin(),
                                  records[0].retract().seqs().end()),
            std::vector<uint64_t>{seq});
  EXPECT_EQ(records[0].retract().reason(), "spoiler");
  EXPECT_EQ(records[0].sender(), "mod");
  EXPECT_GT(records[0].seq(), own);  // a later record, not an edit
  EXPECT_EQ(records[1].sender(), "alice");
  EXPECT_EQ(std::vector<uint64_t>(records[1].retract().seqs().begin(),
                                  records[1].retract().seqs().end()),
            std::vector<uint64_t>{own});

  const std::string want = "{\"seqs\":[" + std::to_string(seq) + "," + std::to_string(own) + "]}";
  EXPECT_EQ(WaitForCachedComponent(room, "redactions", want), want);
  const v1::Manifest m = CachedManifest(room);
  HttpResponse snap = Get(cache_->url() + SnapshotPaths(room, m.state_version()).first);
  v1::StateSnapshot s;
  ASSERT_EQ(snap.status, 200);
  ASSERT_TRUE(s.ParseFromString(snap.body));
  std::string in_snapshot;
  for (const v1::StateComponent& c : s.components()) {
    if (c.name() == "redactions")
      (void)google::protobuf::util::MessageToJsonString(c.value(), &in_snapshot);
  }
  EXPECT_EQ(in_snapshot, want);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// §11 row "ban": the user's writes get 403 `banned` with until_ms, its
// recent messages are retracted, a `ban` record is published; unban lets
// it post again.
TEST_P(CdnModerationE2eTest, BanRefusesWritesRetractsRecentAndPublishesARecord) {
  const std::string room = "cdn-ban";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = BucketIndex(WallMs(), kBucketMs);
  const std::string spammer = Token("spammer", v1::ROLE_AUDIENCE, room);
  const uint64_t s1 = Post(room, "buy-cheap-1", spammer);
  WaitUntilPublished();  // s1 is out, so its retraction is a record
  const uint64_t other = Post(room, "innocent", Token("alice", v1::ROLE_AUDIENCE, room));
  const uint64_t s2 = Post(room, "buy-cheap-2", spammer);
  HttpResponse ban = Send("POST", "/v1/rooms/" + room + "/bans",
                          R"({"user": "spammer", "duration_s": 600, "retract_recent_s": 300,
                              "reason": "spam"})",
                          mod_);
  ASSERT_EQ(ban.status, 200) << ban.body;
  v1::BanReply reply;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ban.body, &reply).ok()) << ban.body;
  EXPECT_EQ(std::set<uint64_t>(reply.retracted().begin(), reply.retracted().end()),
            (std::set<uint64_t>{s1, s2}));

  HttpResponse refused = PostJson("/v1/rooms/" + room + "/messages",
                                  R"({"type": "comment", "text": "again"})", spammer);
  EXPECT_TRUE(IsJsonError(refused, 403));
  v1::ErrorReply e;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(refused.body, &e).ok());
  EXPECT_EQ(e.error(), "banned");
  EXPECT_EQ(e.until_ms(), reply.until_ms());
  EXPECT_GT(e.until_ms(), WallMs() + 500'000);

  const int64_t k = WaitUntilPublished();
  const RoomSegments segs = CachedSegments(room, first_k, k);
  EXPECT_TRUE(SeqContinuous(segs));
  std::set<uint64_t> retracted;
  std::vector<v1::Message> bans;
  std::set<uint64_t> shown;
  for (const auto& [kk, seg] : segs.segments) {
    const std::set<uint64_t> r = RetractedIn(seg);
    retracted.insert(r.begin(), r.end());
    for (const v1::Message& m : seg.messages()) {
      if (m.has_ban()) bans.push_back(m);
      if (m.has_comment()) shown.insert(m.seq());
    }
  }
  EXPECT_EQ(retracted, (std::set<uint64_t>{s1, s2}));
  EXPECT_TRUE(shown.contains(other));
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].ban().user(), "spammer");
  EXPECT_EQ(bans[0].ban().until_ms(), reply.until_ms());
  EXPECT_EQ(bans[0].ban().reason(), "spam");
  EXPECT_NE(WaitForCachedComponent(room, "redactions", std::to_string(s2)).find(
                std::to_string(s1)),
            std::string::npos);

  ASSERT_EQ(Send("DELETE", "/v1/rooms/" + room + "/bans/spammer", "", mod_).status, 200);
  EXPECT_GT(Post(room, "sorry", spammer), s2);
}

// §11 row "ban" with `silent`: the same refusals and retractions, and no
// `ban` record anywhere.
TEST_P(CdnModerationE2eTest, SilentBanPublishesNoRecord) {
  const std::string room = "cdn-silent";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t first_k = BucketIndex(WallMs(), kBucketMs);
  const std::string troll = Token("troll", v1::ROLE_AUDIENCE, room);
  const uint64_t t1 = Post(room, "troll-text-4711", troll);
  ASSERT_EQ(Send("POST", "/v1/rooms/" + room + "/bans",
                 R"({"user": "troll", "silent": true, "retract_recent_s": 60})", mod_)
                .status,
            200);
  EXPECT_TRUE(IsJsonError(PostJson("/v1/rooms/" + room + "/messages",
                                   R"({"type": "comment", "text": "x"})", troll),
                          403));
  const int64_t ban_k = BucketIndex(WallMs(), kBucketMs);
  EXPECT_NE(WaitForCachedComponent(room, "redactions", std::to_string(t1)), "");
  const int64_t k = WaitUntilPublished();
  ASSERT_GE(k, ban_k);  // the ban's bucket is among those read
  const RoomSegments segs = CachedSegments(room, first_k, k);
  EXPECT_TRUE(segs.problems.empty());
  std::set<uint64_t> retracted;
  for (const auto& [kk, seg] : segs.segments) {
    const std::set<uint64_t> r = RetractedIn(seg);
    retracted.insert(r.begin(), r.end());
    for (const v1::Message& m : seg.messages()) EXPECT_FALSE(m.has_ban()) << m.ShortDebugString();
  }
  EXPECT_EQ(retracted, std::set<uint64_t>{t1});
  ASSERT_EQ(Send("DELETE", "/v1/rooms/" + room + "/bans/troll", "", mod_).status, 200);
  EXPECT_GT(Post(room, "back", troll), t1);
}

// §11 row "slow mode": an audience user gets 429 with Retry-After, a
// moderator is not slowed, and `settings` shows it through the cache.
TEST_P(CdnModerationE2eTest, SlowModeLimitsAudienceAndIsInSettingsThroughTheCache) {
  const std::string room = "cdn-slow";
  OpenRoom(room, R"({"bucket_ms": 250})");
  ASSERT_EQ(Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 30})", mod_).status, 200);
  const std::string viewer = Token("alice", v1::ROLE_AUDIENCE, room);
  EXPECT_GT(Post(room, "first", viewer), 0u);
  HttpResponse slow = PostJson("/v1/rooms/" + room + "/messages",
                               R"({"type": "comment", "text": "second"})", viewer);
  EXPECT_TRUE(IsJsonError(slow, 429));
  const std::optional<std::chrono::milliseconds> wait = slow.RetryAfter();
  ASSERT_TRUE(wait.has_value()) << "Retry-After: " << slow.header("retry-after");
  EXPECT_GT(wait->count(), 0);
  EXPECT_LE(wait->count(), 30'000);
  for (int i = 0; i < 3; ++i) EXPECT_GT(Post(room, "mod says", mod_), 0u);
  EXPECT_NE(WaitForCachedComponent(room, "settings", "\"slow_mode_s\":30"), "");

  ASSERT_EQ(Send("PATCH", "/v1/rooms/" + room, R"({"slow_mode_s": 0})", mod_).status, 200);
  EXPECT_GT(Post(room, "third", viewer), 0u);
  EXPECT_NE(WaitForCachedComponent(room, "settings", "\"slow_mode_s\":0"), "");
}

// §11 row "expiring state": a pin set with ?ttl_s= is seen through the
// cache, then leaves the manifest with a larger total version, also through
// the cache (whose manifest lives a second), within a bounded poll.
TEST_P(CdnModerationE2eTest, AnExpiringPinLeavesTheManifestThroughTheCache) {
  const std::string room = "cdn-pin";
  OpenRoom(room, R"({"bucket_ms": 250})");
  // 5 s: long enough to be seen through the cache before it expires, even
  // on a loaded machine.
  HttpResponse pin = Fetch("PUT", PublisherUrl("/v1/rooms/" + room + "/state/pin?ttl_s=5"),
                           R"({"text": "flash-sale-4711"})",
                           JsonHeaders(Token("host", v1::ROLE_ANCHOR, room)));
  ASSERT_EQ(pin.status, 200) << pin.body;
  std::string value;
  const v1::Manifest with = WaitForCachedManifest(room, [&](const v1::Manifest& m) {
    const uint64_t pv = ComponentVersion(m, "pin");
    value = pv == 0 ? "" : CachedComponent(room, "pin", pv);
    return value.find("flash-sale-4711") != std::string::npos;
  });
  const uint64_t v = with.state_version();
  ASSERT_GT(v, 0u) << value;
  const v1::Manifest gone = WaitForCachedManifest(
      room, [&](const v1::Manifest& m) { return m.state_version() > v && !Lists(m, "pin"); });
  EXPECT_FALSE(Lists(gone, "pin"));
  EXPECT_GT(gone.state_version(), v);
  HttpResponse snap = Get(cache_->url() + SnapshotPaths(room, gone.state_version()).second);
  EXPECT_EQ(snap.status, 200);
  EXPECT_EQ(snap.body.find("flash-sale"), std::string::npos);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// §11 row "takedown": POST /v1/rooms/{room}/takedown as the service
// replaces a published message by its stub in its segment and its rollup;
// the origin (started with --purge, see the fixture) purges the cache, which
// held every rendition and encoding of both, so that within a bounded poll
// the cache serves only the stub; the `takedowns` component names each new
// object's bytes; `roomcast verify` through the cache passes. Public and
// private rooms (the publisher reads a private room's objects with its
// write secret; viewers here with the room's edge token).
class CdnTakedownE2eTest : public CdnModerationE2eTest {
 protected:
  // A room as a viewer reads it: public, or private with its edge token.
  struct Room {
    std::string name;
    segmenter::Scope scope = segmenter::Scope::kPublic;
    std::string edge_token;  // private rooms only
    // `path` as read: with the token as rc_token for a private room.
    std::string Read(const std::string& path) const {
      return edge_token.empty() ? path : path + "?rc_token=" + edge_token;
    }
  };
  static Room PrivateRoom(const std::string& name) {
    return {name, segmenter::Scope::kPrivate,
            auth::MintEdgeToken(auth::EdgeAclForRoom(name),
                                WallMs() / 1000 + 600, kEdgeSecret)};
  }
  // The .pb and .json paths (as read) of the object of bucket k of size d.
  static PathPair Object(const Room& room, int64_t d, int64_t k) {
    return {room.Read(segmenter::SegmentPath(
                room.name, d, k, segmenter::Format::kProto, room.scope)),
            room.Read(segmenter::SegmentPath(
                room.name, d, k, segmenter::Format::kJson, room.scope))};
  }
  // The stored path (the takedown record's) of that object.
  static std::string StoredPath(const Room& room, int64_t d, int64_t k) {
    return segmenter::SegmentPath(room.name, d, k, segmenter::Format::kProto,
                                  room.scope);
  }

  Ack PostComment(const Room& room, const std::string& text,
                  const std::string& user) const {
    HttpResponse r = PostJson("/v1/rooms/" + room.name + "/messages",
                              R"({"type": "comment", "text": ")" + text + "\"}",
                              Token(user, v1::ROLE_AUDIENCE, room.name));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.size() == 1 ? acks[0] : Ack{};
  }
  HttpResponse Takedown(const Room& room, uint64_t seq,
                        const std::string& token) const {
    return PostJson(
        "/v1/rooms/" + room.name + "/takedown",
        absl::StrCat(R"({"seqs": [)", seq, R"(], "reason": "court order 12"})"),
        token);
  }

  // One GET as a client makes it, the body gunzipped if it came so; the
  // body is "" unless a 200 that decodes.
  static std::string Body(const std::string& url, bool gzip) {
    HttpResponse r = Get(
        url, {gzip ? "Accept-Encoding: gzip" : "Accept-Encoding: identity"});
    if (r.status != 200) return "";
    if (r.header("content-encoding") != "gzip") return r.body;
    return origin::Gunzip(r.body);
  }
  // Why `seg` does not show `bad` as its stub ("" if it does): a message of
  // that seq carrying only seq, ts_ms and `redacted`.
  static std::string StubProblem(const v1::ActionSegment& seg, const Ack& bad) {
    v1::Message stub;
    stub.set_seq(bad.seq);
    stub.set_ts_ms(bad.ts_ms);
    stub.mutable_redacted();
    for (const v1::Message& m : seg.messages()) {
      if (m.seq() != bad.seq) continue;
      return google::protobuf::util::MessageDifferencer::Equals(m, stub)
                 ? ""
                 : "seq " + std::to_string(bad.seq) + " is " +
                       m.ShortDebugString();
    }
    return "seq " + std::to_string(bad.seq) + " is missing";
  }
  // Why the four forms of `paths` at `base` are not yet the takedown's
  // ("" once each is a 200 holding the stub and not `marker`).
  static std::string FormsProblem(const std::string& base,
                                  const PathPair& paths, const Ack& bad,
                                  const std::string& marker) {
    for (bool gzip : {false, true}) {
      const std::string where = base + paths.first + (gzip ? " (gzip)" : "");
      v1::ActionSegment seg;
      const std::string pb = Body(base + paths.first, gzip);
      if (!seg.ParseFromString(pb) || pb.empty()) return where + ": no segment";
      if (pb.find(marker) != std::string::npos)
        return where + ": holds the text";
      if (std::string p = StubProblem(seg, bad); !p.empty())
        return where + ": " + p;
      const std::string json = Body(base + paths.second, gzip);
      const std::string jwhere = base + paths.second + (gzip ? " (gzip)" : "");
      v1::ActionSegment from_json;
      if (json.empty() ||
          !google::protobuf::util::JsonStringToMessage(json, &from_json).ok())
        return jwhere + ": no segment";
      if (json.find(marker) != std::string::npos)
        return jwhere + ": holds the text";
      if (std::string p = StubProblem(from_json, bad); !p.empty())
        return jwhere + ": " + p;
    }
    return "";
  }

  // The `takedowns` component's records through the cache: path -> new
  // digest (empty if the manifest lists none).
  std::map<std::string, std::string> CachedTakedowns(const Room& room) const {
    std::map<std::string, std::string> out;
    v1::Manifest m;
    HttpResponse r = Get(
        cache_->url() + room.Read(segmenter::ManifestPath(
                            room.name, segmenter::Format::kProto, room.scope)));
    if (r.status != 200 || !m.ParseFromString(r.body)) return out;
    const uint64_t v = ComponentVersion(m, "takedowns");
    if (v == 0) return out;
    HttpResponse c =
        Get(cache_->url() + room.Read(segmenter::StatePath(
                                room.name, "takedowns", static_cast<int64_t>(v),
                                segmenter::Format::kProto, room.scope)));
    v1::StateComponent sc;
    if (c.status != 200 || !sc.ParseFromString(c.body)) return out;
    const auto& fields = sc.value().struct_value().fields();
    auto records = fields.find("records");
    if (records == fields.end()) return out;
    for (const auto& rec : records->second.list_value().values()) {
      const auto& f = rec.struct_value().fields();
      auto path = f.find("path");
      auto digest = f.find("new_digest");
      if (path != f.end() && digest != f.end())
        out[path->second.string_value()] = digest->second.string_value();
    }
    return out;
  }

  // Every form of `objects` through the cache, twice: the second answer is
  // the cache's own (a HIT). The first .json holds `marker`: it is out.
  void CacheEveryForm(const std::vector<PathPair>& objects,
                      const std::string& marker) {
    for (const PathPair& paths : objects) {
      // A gzip client first: Varnish keeps one object for both encodings,
      // the first one fetched.
      for (const std::string& path : {paths.first, paths.second})
        GetPastNotYet(cache_->url() + path, {"Accept-Encoding: gzip"});
      const std::vector<Rendition> all = Renditions(cache_->url(), paths);
      ASSERT_EQ(all.size(), 4u);
      EXPECT_NE(all[2].body.find(marker), std::string::npos) << all[2].label;
      for (const Rendition& r : all) {
        // Each object compresses: a gzip client gets gzip, the other not.
        const bool asked = r.label.find("(gzip)") != std::string::npos;
        EXPECT_EQ(r.response.header("content-encoding") == "gzip", asked)
            << r.label;
      }
      for (const std::string& path : {paths.first, paths.second}) {
        for (const char* enc : {"identity", "gzip"}) {
          HttpResponse hit = Get(cache_->url() + path,
                                 {std::string("Accept-Encoding: ") + enc});
          EXPECT_EQ(hit.status, 200) << path;
          EXPECT_EQ(hit.header("x-cache-status"), "HIT")
              << path << " (" << enc << ") is not held by " << cache_->name();
        }
      }
    }
  }

  // Why the takedown of `bad` is not complete yet ("" once it is): every
  // form at the origin and through the cache, and a record per object
  // whose new digest is the cache's .pb bytes'.
  std::string TakedownProblem(const Room& room,
                              const std::vector<PathPair>& objects,
                              const std::vector<std::string>& stored,
                              const Ack& bad, const std::string& marker) const {
    for (const PathPair& paths : objects) {
      for (const std::string& base : {origin_->url(), cache_->url()}) {
        if (std::string p = FormsProblem(base, paths, bad, marker); !p.empty())
          return p;
      }
    }
    const std::map<std::string, std::string> records = CachedTakedowns(room);
    for (size_t i = 0; i < objects.size(); ++i) {
      auto rec = records.find(stored[i]);
      if (rec == records.end()) return "no takedown record for " + stored[i];
      const std::string digest =
          base::Sha256Hex(Body(cache_->url() + objects[i].first, false));
      if (rec->second != digest)
        return "the record of " + stored[i] + " names " + rec->second +
               ", the cache serves " + digest;
    }
    return "";
  }

  // Every rendition and encoding of `objects`, at the origin and through
  // the cache, the same bytes without `marker`; the other messages that an
  // object `holds` still in it (the posts may straddle a bucket's or a
  // window's end).
  void ExpectEveryFormTakenDown(
      const std::vector<PathPair>& objects, const std::string& marker,
      const std::function<bool(size_t, const Ack&)>& holds, const Ack& before,
      const Ack& after) const {
    for (size_t i = 0; i < objects.size(); ++i) {
      for (const Rendition& rd : EverywhereRenditions(objects[i])) {
        EXPECT_EQ(rd.body.find(marker), std::string::npos) << rd.label;
        if (rd.label.find(".json") == std::string::npos) continue;
        EXPECT_NE(rd.body.find("\"redacted\""), std::string::npos) << rd.label;
        EXPECT_EQ(rd.body.find("before-it-4711") != std::string::npos,
                  holds(i, before))
            << rd.label;
        EXPECT_EQ(rd.body.find("after-it-4711") != std::string::npos,
                  holds(i, after))
            << rd.label;
      }
    }
  }
  // `roomcast verify` over [from, to) of `room`, through the cache.
  RunResult VerifyThroughTheCache(const Room& room, int64_t from,
                                  int64_t to) const {
    std::vector<std::string> argv = {BinaryPath("roomcast"),
                                     "verify",
                                     "--base",
                                     cache_->url(),
                                     "--room",
                                     room.name,
                                     "--from",
                                     std::to_string(from),
                                     "--to",
                                     std::to_string(to)};
    if (!room.edge_token.empty())
      argv.insert(argv.end(), {"--edge-token", room.edge_token});
    return roomcast::testing::Run(argv, {}, std::chrono::seconds(30));
  }

  // The whole row in `room` (opened with `open_body`).
  void TakesDownThroughTheCache(const Room& room,
                                const std::string& open_body) {
    OpenRoom(room.name, open_body);
    const std::string marker = "secret-takedown-4711";
    const int64_t from = WallMs();
    // Padded, so that every object compresses: each is served gzipped too.
    const std::string pad = " " + std::string(300, 'z');
    const Ack before = PostComment(room, "before-it-4711" + pad, "alice");
    const Ack bad = PostComment(room, marker + pad, "bob");
    const Ack after = PostComment(room, "after-it-4711" + pad, "carol");
    ASSERT_GT(bad.seq, before.seq);
    ASSERT_GT(after.seq, bad.seq);
    const int64_t window = bad.ts_ms / kRollupMs;
    const int64_t window_end = segmenter::BucketEnd(window, kRollupMs);
    ASSERT_TRUE(WaitForWatermark(
        std::max(window_end, segmenter::BucketEnd(after.bucket, kBucketMs)),
        std::chrono::seconds(30)))
        << "the watermark stays at " << OriginWatermarkMs();
    const std::vector<PathPair> objects = {Object(room, kBucketMs, bad.bucket),
                                           Object(room, kRollupMs, window)};
    const std::vector<std::string> stored = {
        StoredPath(room, kBucketMs, bad.bucket),
        StoredPath(room, kRollupMs, window)};
    WaitFor200(origin_->url() + objects[1].first);  // the rollup is published
    CacheEveryForm(objects, marker);
    if (HasFatalFailure()) return;

    // Only the service: an audience user and a moderator get §6's 403.
    EXPECT_TRUE(IsJsonError(
        Takedown(room, bad.seq, Token("eve", v1::ROLE_AUDIENCE, room.name)),
        403));
    EXPECT_TRUE(IsJsonError(Takedown(room, bad.seq, mod_), 403));
    const HttpResponse r = Takedown(room, bad.seq, service_token_);
    ASSERT_EQ(r.status, 202) << r.body;

    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::string problem = TakedownProblem(room, objects, stored, bad, marker);
    while (!problem.empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      problem = TakedownProblem(room, objects, stored, bad, marker);
    }
    ASSERT_EQ(problem, "") << "through " << cache_->name() << "\n"
                           << publisher_->LogTail();

    ExpectEveryFormTakenDown(
        objects, marker,
        [&](size_t object, const Ack& a) {
          return object == 0 ? a.bucket == bad.bucket
                             : a.ts_ms / kRollupMs == window;
        },
        before, after);
    const RunResult v = VerifyThroughTheCache(room, from, window_end);
    EXPECT_EQ(v.status, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("takedown stubs"), std::string::npos) << v.out;
    EXPECT_EQ(ImmutableConflicts(), 0);
    EXPECT_EQ(
        origin_->Metric("roomcast_origin_purges_total", "result=\"failed\""),
        0);
    EXPECT_GE(
        origin_->Metric("roomcast_origin_purges_total", "result=\"purged\""),
        1);
  }
};

TEST_P(CdnTakedownE2eTest, TakedownReplacesEveryCachedFormByTheStub) {
  TakesDownThroughTheCache(Room{"cdn-takedown"}, R"({"bucket_ms": 250})");
}

TEST_P(CdnTakedownE2eTest,
       TakedownInAPrivateRoomReplacesEveryCachedFormByTheStub) {
  TakesDownThroughTheCache(PrivateRoom("cdn-takedown-vip"),
                           R"({"bucket_ms": 250, "private": true})");
}

INSTANTIATE_TEST_SUITE_P(Caches, CdnTakedownE2eTest,
                         ::testing::Values(Cache::Kind::kNginx,
                                           Cache::Kind::kVarnish),
                         CacheName);

INSTANTIATE_TEST_SUITE_P(Caches, CdnModerationE2eTest,
                         ::testing::Values(Cache::Kind::kNginx, Cache::Kind::kVarnish),
                         CacheName);

}  // namespace
}  // namespace roomcast::testing
