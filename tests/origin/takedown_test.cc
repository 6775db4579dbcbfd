// DESIGN §11's takedown at a real roomcast-origin (the takedown contract):
// changed bytes for an immutable URL only with a record from a writer, only
// the listed messages stubbed, durable across kill -9, listed for operators.
#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"

#include "auth/jwt.h"
#include "base/crypto.h"
#include "origin/store.h"
#include "segmenter/bucketer.h"
#include "tests/origin/takedown_fixture.h"
#include "tests/support/scripted_server.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::Format;
using segmenter::SegmentPath;

class TakedownTest : public OriginTest {
 protected:
  // A stored segment of 5 comments (seqs 1..5) in an open bucket.
  void StoreSegment() {
    OpenRoom("lobby");
    k_ = BucketIndex(WallMs() - 10'000, 1000);
    path_ = SegmentPath("lobby", 1000, k_);
    seg_ = MakeSegment("lobby", 1000, k_, 5);
    old_ = Encode(seg_);
    stub_ = Encode(Stubbed(seg_, {2, 4}));
    ASSERT_EQ(origin_->PutObject(path_, old_.bytes).status, 201);
  }
  HttpResponse Takedown(const std::string& body, const Headers& headers) {
    return Put(origin_->url() + path_, body, headers);
  }
  HttpResponse TakeDownTwoAndFour() {
    return Takedown(stub_.bytes, TakedownHeaders(old_.digest, "2,4"));
  }
  HttpResponse ListTakedowns(const std::string& auth) {
    Headers h;
    if (!auth.empty()) h.push_back("Authorization: Bearer " + auth);
    return Get(origin_->url() + "/v1/rooms/lobby/takedowns", h);
  }
  // The stored .pb bytes, as a viewer gets them.
  std::string Served() { return Get(origin_->url() + path_).body; }

  int64_t k_ = 0;
  std::string path_;
  v1::ActionSegment seg_;
  segmenter::EncodedObject old_, stub_;
};

TEST_F(TakedownTest, ReplacesTheObjectInEveryRenditionAndEncoding) {
  StoreSegment();
  HttpResponse r = TakeDownTwoAndFour();
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.body.find("\"path\":\"" + path_ + "\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"old_digest\":\"" + old_.digest + "\""), std::string::npos);
  EXPECT_NE(r.body.find("\"new_digest\":\"" + stub_.digest + "\""), std::string::npos);
  EXPECT_NE(r.body.find("\"reason\":\"court order \xC2\xA7" "1\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"seqs\":[\"2\",\"4\"]"), std::string::npos) << r.body;

  HttpResponse pb = Get(origin_->url() + path_);
  EXPECT_EQ(pb.status, 200);
  EXPECT_EQ(pb.body, stub_.bytes);
  EXPECT_EQ(pb.header("etag"), "\"" + stub_.digest + "\"");
  EXPECT_EQ(pb.header("content-length"), std::to_string(stub_.bytes.size()));
  HttpResponse gz = Get(origin_->url() + path_, {"Accept-Encoding: gzip"});
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("etag"), "\"" + stub_.digest + ".gz\"");
  EXPECT_EQ(origin::Gunzip(gz.body), stub_.bytes);
  const std::string json_url = origin_->url() + SegmentPath("lobby", 1000, k_, Format::kJson);
  HttpResponse json = Get(json_url);
  EXPECT_NE(json.body.find("\"redacted\":{}"), std::string::npos) << json.body;
  EXPECT_EQ(json.body.find("hello number 1 "), std::string::npos) << json.body;
  EXPECT_NE(json.body.find("hello number 0 "), std::string::npos) << json.body;
  EXPECT_EQ(origin::Gunzip(Get(json_url, {"Accept-Encoding: gzip"}).body), json.body);
  EXPECT_EQ(origin_->Metric("roomcast_origin_takedowns_total"), 1);
}

TEST_F(TakedownTest, OldBytesAreRefusedAfterAndARetryIsIdempotent) {
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);
  HttpResponse old_again = origin_->PutObject(path_, old_.bytes);
  EXPECT_EQ(old_again.status, 409);
  EXPECT_NE(old_again.body.find("\"immutable\""), std::string::npos) << old_again.body;
  HttpResponse retry = TakeDownTwoAndFour();
  EXPECT_EQ(retry.status, 200) << retry.body;
  EXPECT_NE(retry.body.find("\"new_digest\":\"" + stub_.digest + "\""), std::string::npos);
  // The new bytes without the headers: an identical immutable PUT.
  EXPECT_EQ(origin_->PutObject(path_, stub_.bytes).status, 200);
  EXPECT_EQ(Served(), stub_.bytes);
  EXPECT_EQ(origin_->Metric("roomcast_origin_takedowns_total"), 1);
}

TEST_F(TakedownTest, ChangedBytesWithoutTheHeadersStayImmutable) {
  StoreSegment();
  HttpResponse r = origin_->PutObject(path_, stub_.bytes);
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body.find("\"immutable\""), std::string::npos) << r.body;
  EXPECT_EQ(Served(), old_.bytes);
}

TEST_F(TakedownTest, RefusesAnythingButExactlyTheListedStubs) {
  StoreSegment();
  v1::ActionSegment keeps_sender = Stubbed(seg_, {2, 4});
  keeps_sender.mutable_messages(1)->set_sender("viewer-1");
  v1::ActionSegment extra_change = Stubbed(seg_, {2, 4});
  extra_change.mutable_messages(2)->mutable_comment()->set_text("rewritten history");
  v1::ActionSegment header_change = Stubbed(seg_, {2, 4});
  (*header_change.mutable_dropped())["comment"] = 7;
  v1::ActionSegment one_message_gone = Stubbed(seg_, {2, 4});
  one_message_gone.mutable_messages()->RemoveLast();
  v1::ActionSegment stub_moved = Stubbed(seg_, {2, 4});
  stub_moved.mutable_messages(1)->set_ts_ms(seg_.messages(1).ts_ms() + 1);
  const std::pair<const char*, std::string> cases[] = {
      {"stub keeps its sender", Encode(keeps_sender).bytes},
      {"an unlisted message changed", Encode(extra_change).bytes},
      {"the segment's counts changed", Encode(header_change).bytes},
      {"a message removed", Encode(one_message_gone).bytes},
      {"the stub's ts_ms moved", Encode(stub_moved).bytes},
      {"an unlisted message stubbed", Encode(Stubbed(seg_, {2, 3, 4})).bytes},
      {"a listed message left whole", Encode(Stubbed(seg_, {2})).bytes},
  };
  for (const auto& [what, body] : cases) {
    HttpResponse r = Takedown(body, TakedownHeaders(old_.digest, "2,4"));
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_NE(r.body.find("\"bad_takedown\""), std::string::npos) << what << ": " << r.body;
  }
  // Listed seqs the object does not hold change nothing, so nothing to do.
  HttpResponse absent = Takedown(old_.bytes, TakedownHeaders(old_.digest, "40"));
  EXPECT_EQ(absent.status, 400) << absent.body;
  EXPECT_EQ(Served(), old_.bytes);
  EXPECT_EQ(origin_->Metric("roomcast_origin_takedowns_total"), 0);
}

TEST_F(TakedownTest, BoundsAndChecksEveryHeaderBeforeTheBody) {
  StoreSegment();
  std::string seqs_1001;
  for (int i = 1; i <= 1001; ++i) absl::StrAppend(&seqs_1001, i == 1 ? "" : ",", i);
  const std::string long_reason(513, 'x');
  const std::pair<const char*, Headers> cases[] = {
      {"1001 seqs", TakedownHeaders(old_.digest, seqs_1001)},
      {"not ascending", TakedownHeaders(old_.digest, "4,2")},
      {"a repeated seq", TakedownHeaders(old_.digest, "2,2,4")},
      {"a leading zero", TakedownHeaders(old_.digest, "02,4")},
      {"no seqs", TakedownHeaders(old_.digest, "")},
      {"uppercase digest", TakedownHeaders(absl::AsciiStrToUpper(old_.digest), "2,4")},
      {"short digest", TakedownHeaders(old_.digest.substr(1), "2,4")},
      {"reason of 513 bytes", TakedownHeaders(old_.digest, "2,4", long_reason)},
      {"reason not UTF-8", TakedownHeaders(old_.digest, "2,4", "%FF%FE")},
      {"reason with a bad escape", TakedownHeaders(old_.digest, "2,4", "100%")},
      {"at not a number", TakedownHeaders(old_.digest, "2,4", "r", "yesterday")},
  };
  for (const auto& [what, headers] : cases) {
    HttpResponse r = Takedown(stub_.bytes, headers);
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_NE(r.body.find("\"bad_takedown\""), std::string::npos) << what << ": " << r.body;
  }
  Headers missing_at = TakedownHeaders(old_.digest, "2,4");
  missing_at.pop_back();
  EXPECT_EQ(Takedown(stub_.bytes, missing_at).status, 400);
  // Exactly 1000 seqs is within bounds (and then judged on the body).
  std::string seqs_1000;
  for (int i = 1; i <= 1000; ++i) absl::StrAppend(&seqs_1000, i == 1 ? "" : ",", i);
  HttpResponse at_limit = Takedown(stub_.bytes, TakedownHeaders(old_.digest, seqs_1000));
  EXPECT_EQ(at_limit.status, 400) << "seqs 1, 3 and 5 are listed but whole";
  EXPECT_NE(at_limit.body.find("is not its stub"), std::string::npos) << at_limit.body;
  EXPECT_EQ(Served(), old_.bytes);
  // Refused from the headers alone: the origin does not wait for the body.
  const std::string answer = RawExchange(
      PortOf(origin_->url()),
      absl::StrCat("PUT ", path_, " HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer ",
                   kWriteSecret, "\r\nContent-Length: 100000\r\n",
                   "Roomcast-Takedown-Old: not-a-digest\r\n\r\n"),
      std::chrono::seconds(3));
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("bad_takedown"), std::string::npos) << answer;
}

TEST_F(TakedownTest, WrongOldDigestOrNoObjectChangesNothing) {
  StoreSegment();
  HttpResponse wrong = Takedown(stub_.bytes, TakedownHeaders(std::string(64, 'a'), "2,4"));
  EXPECT_EQ(wrong.status, 409);
  EXPECT_NE(wrong.body.find("\"takedown_mismatch\""), std::string::npos) << wrong.body;
  EXPECT_EQ(Served(), old_.bytes);

  const std::string empty_path = SegmentPath("lobby", 1000, k_ + 1);
  v1::ActionSegment other = MakeSegment("lobby", 1000, k_ + 1, 3);
  HttpResponse none =
      Put(origin_->url() + empty_path, Encode(Stubbed(other, {1})).bytes,
          TakedownHeaders(Encode(other).digest, "1"));
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_NE(none.body.find("\"not_found\""), std::string::npos);
}

TEST_F(TakedownTest, OnlyAWriterTakesDown) {
  StoreSegment();
  Headers no_secret = TakedownHeaders(old_.digest, "2,4");
  no_secret.erase(no_secret.begin());
  EXPECT_EQ(Takedown(stub_.bytes, no_secret).status, 401);
  Headers audience = no_secret;
  audience.push_back("Authorization: Bearer " +
                     auth::MintJwt({.sub = "mallory", .role = v1::ROLE_AUDIENCE,
                                    .room = "lobby", .exp = WallMs() / 1000 + 600},
                                   kJwtSecret));
  EXPECT_EQ(Takedown(stub_.bytes, audience).status, 401);
  EXPECT_EQ(Served(), old_.bytes);
}

TEST_F(TakedownTest, RecordSurvivesKillNineAndIsListedForWritersOnly) {
  const std::string secrets = dir_.path() + "/publishers";
  std::ofstream(secrets) << "pub-2 other-publishers-secret\n";
  StartOrigin({"--publisher-secrets-file", secrets});
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);
  ASSERT_EQ(origin_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(origin_->Start()) << "roomcast-origin did not restart";

  EXPECT_EQ(Served(), stub_.bytes);
  EXPECT_EQ(origin_->PutObject(path_, old_.bytes).status, 409);
  EXPECT_EQ(TakeDownTwoAndFour().status, 200);
  HttpResponse list = ListTakedowns(kWriteSecret);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.header("cache-control"), "no-store");
  EXPECT_EQ(list.body.rfind("{\"records\":[{", 0), 0u) << list.body;
  EXPECT_NE(list.body.find("\"old_digest\":\"" + old_.digest + "\""), std::string::npos);
  EXPECT_NE(list.body.find("\"new_digest\":\"" + stub_.digest + "\""), std::string::npos);
  EXPECT_NE(list.body.find("\"at_ms\":\"" + std::string(kTakedownAt) + "\""),
            std::string::npos) << list.body;
  EXPECT_EQ(ListTakedowns("").status, 401);
  EXPECT_EQ(ListTakedowns("not-a-writer").status, 401);
  EXPECT_EQ(ListTakedowns("other-publishers-secret").status, 403);
  HttpResponse other_room = Get(origin_->url() + "/v1/rooms/lobby2/takedowns",
                                {absl::StrCat("Authorization: Bearer ", kWriteSecret)});
  EXPECT_EQ(other_room.body, "{\"records\":[]}\n");
}

TEST_F(TakedownTest, ObjectsCarryTheirSurrogateKeys) {
  StoreSegment();
  HttpResponse seg = Get(origin_->url() + path_);
  const std::string keys = absl::StrCat("room/lobby bucket/lobby/1000/", k_);
  EXPECT_EQ(seg.header("surrogate-key"), keys);
  EXPECT_EQ(seg.header("xkey"), keys);
  HttpResponse manifest = Get(origin_->url() + segmenter::ManifestPath("lobby"));
  EXPECT_EQ(manifest.header("surrogate-key"), "room/lobby");
  EXPECT_EQ(manifest.header("xkey"), "room/lobby");
}

// Purges at the origin, against scripted caches that record what reaches
// them: every rendition and encoding, the secret, retries, a dead cache
// beside a live one, and a kill -9 while purges are owed.
class TakedownPurgeTest : public TakedownTest {
 protected:
  void StartPurging(const std::vector<std::string>& bases,
                    const std::vector<std::string>& extra = {}) {
    secret_file_ = dir_.path() + "/purge-secret";
    std::ofstream(secret_file_) << kPurgeSecret << "\n";
    args_ = {"--purge-secret-file", secret_file_};
    args_.insert(args_.end(), extra.begin(), extra.end());
    for (const std::string& b : bases) args_.insert(args_.end(), {"--purge", b});
    StartOrigin(args_);
  }
  double Purges(const std::string& result) {
    return origin_->Metric("roomcast_origin_purges_total",
                           absl::StrCat("result=\"", result, "\""));
  }
  // Polls (bounded) until `done` holds.
  template <typename F>
  bool Eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  // "PATH ENCODING" of each PURGE in `reqs`, checking its secret.
  std::set<std::string> PurgesIn(const std::vector<ScriptedServer::Request>& reqs) {
    std::set<std::string> out;
    for (const ScriptedServer::Request& r : reqs) {
      EXPECT_EQ(r.method, "PURGE");
      auto secret = r.headers.find("roomcast-purge-secret");
      EXPECT_TRUE(secret != r.headers.end() && secret->second == kPurgeSecret);
      auto ae = r.headers.find("accept-encoding");
      out.insert(r.target + " " + (ae == r.headers.end() ? "" : ae->second));
    }
    return out;
  }
  std::set<std::string> EveryVariant() const {
    const std::string json = SegmentPath("lobby", 1000, k_, Format::kJson);
    return {path_ + " ", path_ + " gzip", json + " ", json + " gzip"};
  }

  static constexpr char kPurgeSecret[] = "scripted-purge-secret";
  std::string secret_file_;
  std::vector<std::string> args_;
};

TEST_F(TakedownPurgeTest, EveryVariantReachesALiveCacheThoughAnotherIsDead) {
  RefusingPort dead;
  ScriptedServer live;
  StartPurging({dead.url(), live.url()});
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);
  ASSERT_TRUE(Eventually([&] { return Purges("purged") == 4; }))
      << "purged " << Purges("purged") << " of 4";
  EXPECT_EQ(PurgesIn(live.requests()), EveryVariant());
  EXPECT_EQ(live.requests().size(), 4u);
  ASSERT_TRUE(Eventually([&] { return Purges("failed") >= 4; }));
  EXPECT_EQ(origin_->Metric("roomcast_origin_purges_pending"), 4) << "the dead cache's";
}

// A cache fill that read the old bytes just before the takedown lands after
// the first PURGE; the second, sent later, removes it.
TEST_F(TakedownPurgeTest, EachPurgeIsSentOnceMoreLater) {
  ScriptedServer cache;
  StartPurging({cache.url()}, {"--purge-repeat-ms", "300"});
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);
  ASSERT_TRUE(Eventually([&] { return Purges("repeated") == 4; }))
      << "repeated " << Purges("repeated") << " of 4";
  const std::vector<ScriptedServer::Request> reqs = cache.requests();
  EXPECT_EQ(reqs.size(), 8u);
  EXPECT_EQ(PurgesIn({reqs.begin(), reqs.begin() + 4}), EveryVariant());
  EXPECT_EQ(PurgesIn({reqs.begin() + 4, reqs.end()}), EveryVariant());
  EXPECT_EQ(Purges("purged"), 4);
  EXPECT_EQ(origin_->Metric("roomcast_origin_purges_pending"), 0);
}

TEST_F(TakedownPurgeTest, OwedPurgesAreRetriedAndSurviveKillNine) {
  ScriptedServer cache;
  cache.SetDefault(ScriptedServer::Reply::Respond(503));
  StartPurging({cache.url()});
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);
  ASSERT_TRUE(Eventually([&] { return Purges("failed") >= 8; })) << "retried";
  ASSERT_EQ(origin_->Stop(SIGKILL), 128 + SIGKILL);

  cache.SetDefault(ScriptedServer::Reply::Respond(404));  // nothing cached: done
  const size_t before = cache.requests().size();
  origin_ = std::make_unique<OriginProcess>(dir_.path(), args_);
  ASSERT_TRUE(origin_->Start()) << "roomcast-origin did not restart";
  ASSERT_TRUE(Eventually([&] { return Purges("not_cached") == 4; }))
      << "not_cached " << Purges("not_cached") << " of 4 after the restart";
  std::vector<ScriptedServer::Request> after = cache.requests();
  after.erase(after.begin(), after.begin() + static_cast<ptrdiff_t>(before));
  EXPECT_EQ(PurgesIn(after), EveryVariant());
  EXPECT_EQ(origin_->Metric("roomcast_origin_purges_pending"), 0);
  // Done purges are gone from the store: a restart owes nothing.
  origin_->Stop(SIGTERM);
  origin_ = std::make_unique<OriginProcess>(dir_.path(), args_);
  ASSERT_TRUE(origin_->Start());
  EXPECT_EQ(origin_->Metric("roomcast_origin_purges_pending"), 0);
  EXPECT_EQ(Served(), stub_.bytes);
}

TEST_F(TakedownPurgeTest, AFullPurgeQueueRefusesTheTakedownAndStoresNothing) {
  RefusingPort dead;
  StartPurging({dead.url()}, {"--max-pending-purges", "6"});
  StoreSegment();
  ASSERT_EQ(TakeDownTwoAndFour().status, 201);  // 4 purges owed, never done
  const std::string other = SegmentPath("lobby", 1000, k_ + 1);
  const segmenter::EncodedObject before = Encode(MakeSegment("lobby", 1000, k_ + 1, 3));
  ASSERT_EQ(origin_->PutObject(other, before.bytes).status, 201);
  HttpResponse r = Put(origin_->url() + other,
                       Encode(Stubbed(MakeSegment("lobby", 1000, k_ + 1, 3), {1})).bytes,
                       TakedownHeaders(before.digest, "1"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(Get(origin_->url() + other).body, before.bytes);
  EXPECT_EQ(origin_->Metric("roomcast_origin_takedowns_total"), 1);
}

TEST_F(TakedownPurgeTest, PurgeWithoutASecretDoesNotStart) {
  RunResult r = testing::Run({BinaryPath("roomcast-origin"), "--data", dir_.path() + "/other",
                     "--listen", "127.0.0.1:0", "--purge", "http://127.0.0.1:9"},
                    {{"ROOMCAST_WRITE_SECRET", kWriteSecret}});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--purge needs the purge secret"), std::string::npos) << r.err;
  RunResult help = testing::Run({BinaryPath("roomcast-origin"), "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--purge-secret-file"), std::string::npos);
  EXPECT_NE(help.out.find("ROOMCAST_PURGE_SECRET"), std::string::npos);
}

}  // namespace
}  // namespace roomcast::testing
