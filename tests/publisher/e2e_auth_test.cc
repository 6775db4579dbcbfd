// The auth matrix of DESIGN §6 through HTTP against the real publisher: every
// refused token gets its status and a JSON {error, detail}, and nothing it
// sent reaches the log or the origin.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/bucketer.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

std::string Base64Url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return absl::StrReplaceAll(out, {{"+", "-"}, {"/", "_"}});
}

std::string Hmac(const EVP_MD* md, const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// A token with any header, signed by `md` with the right secret (or with no
// signature at all when md is null).
std::string Craft(const std::string& header_json, const std::string& room,
                  const EVP_MD* md, const std::string& extra_claims = "",
                  int64_t ttl_s = 3600) {
  const std::string claims = absl::StrCat(
      R"({"sub":"mallory","role":"service","room":")", room, R"(","exp":)",
      WallMs() / 1000 + ttl_s, extra_claims, "}");
  const std::string input = Base64Url(header_json) + "." + Base64Url(claims);
  return input + "." + (md == nullptr ? "" : Base64Url(Hmac(md, kJwtSecret, input)));
}

struct Case {
  std::string name;
  std::string method;
  std::string path;
  std::string body;
  Headers headers;
  long status;
};

class PublisherE2eAuthTest : public PublisherE2eTest {};

TEST_F(PublisherE2eAuthTest, RefusedTokensGetTheirStatusAndStoreNothing) {
  const std::string room = "auth-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t opened_k = segmenter::BucketIndex(WallMs(), 250);
  // The room's first manifest is on the origin before counting its objects.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Get(origin_->url() + segmenter::ManifestPath(room)).status != 200) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no manifest on the origin";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double stored_before = origin_->Metric("roomcast_origin_objects_stored_total");

  const std::string msgs = "/v1/rooms/" + room + "/messages";
  const std::string comment = R"({"type":"comment","text":"must not be stored"})";
  const std::string good = Token("alice", v1::ROLE_ANCHOR, room);
  // A real forgery: the signature's first character changed (its last one
  // carries unused low bits that a lenient decoder would ignore).
  std::string bad_sig = good;
  char& c = bad_sig[bad_sig.rfind('.') + 1];
  c = c == 'A' ? 'B' : 'A';
  // The same signature bytes spelled another way: HS256's 43 base64url
  // characters carry 258 bits for 256, and setting an unused one must not
  // verify (one token, one spelling).
  constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string padding_bits = good;
  padding_bits.back() = kAlphabet[kAlphabet.find(padding_bits.back()) | 1];
  const std::string other_secret = auth::MintJwt(
      {.sub = "alice", .role = v1::ROLE_ANCHOR, .room = room, .exp = WallMs() / 1000 + 60},
      "not-the-secret");
  auto bearer = [](const std::string& t) {
    return Headers{"Content-Type: application/json", "Authorization: Bearer " + t};
  };
  const std::vector<Case> cases = {
      {"no token", "POST", msgs, comment, {"Content-Type: application/json"}, 401},
      {"empty bearer", "POST", msgs, comment, {"Authorization: Bearer "}, 401},
      {"basic auth", "POST", msgs, comment, {"Authorization: Basic YWxpY2U6eA=="}, 401},
      {"not a jwt", "POST", msgs, comment, bearer("abc.def"), 401},
      {"bad signature", "POST", msgs, comment, bearer(bad_sig), 401},
      {"non-canonical signature", "POST", msgs, comment, bearer(padding_bits), 401},
      {"other secret", "POST", msgs, comment, bearer(other_secret), 401},
      {"alg none", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"none","typ":"JWT"})", room, nullptr)), 401},
      {"alg none, signed anyway", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"none","typ":"JWT"})", room, EVP_sha256())), 401},
      {"alg HS512", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"HS512","typ":"JWT"})", room, EVP_sha512())), 401},
      {"alg RS256 with an HMAC", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"RS256","typ":"JWT"})", room, EVP_sha256())), 401},
      {"unknown crit extension", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"HS256","crit":["x-bind"],"x-bind":1})", room, EVP_sha256())), 401},
      {"malformed nbf", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"HS256"})", room, EVP_sha256(), R"(,"nbf":"now")")), 401},
      {"not yet valid", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"HS256"})", room, EVP_sha256(),
                    absl::StrCat(R"(,"nbf":)", WallMs() / 1000 + 600))), 401},
      {"a hundred years to live", "POST", msgs, comment,
       bearer(Craft(R"({"alg":"HS256"})", room, EVP_sha256(), "", 100LL * 365 * 86400)), 401},
      {"expired", "POST", msgs, comment, bearer(Token("alice", v1::ROLE_ANCHOR, room, -120)),
       401},
      {"wrong room", "POST", msgs, comment,
       bearer(Token("alice", v1::ROLE_ANCHOR, "other-room")), 403},
      {"wrong room, presence", "POST", "/v1/rooms/" + room + "/presence", "",
       bearer(Token("alice", v1::ROLE_AUDIENCE, "other-room")), 403},
      {"audience opens a room", "POST", "/v1/rooms/" + room, "{}",
       bearer(Token("alice", v1::ROLE_AUDIENCE, room)), 403},
      {"anchor opens a room", "POST", "/v1/rooms/new-room", "{}",
       bearer(Token("alice", v1::ROLE_ANCHOR, "new-room")), 403},
      {"anchor token for every room", "POST", msgs, comment,
       bearer(Token("alice", v1::ROLE_ANCHOR, "*")), 401},
      {"audience ends a room", "DELETE", "/v1/rooms/" + room, "",
       bearer(Token("alice", v1::ROLE_AUDIENCE, room)), 403},
      {"audience sets state", "PUT", "/v1/rooms/" + room + "/state/title", R"("hacked")",
       bearer(Token("alice", v1::ROLE_AUDIENCE, room)), 403},
      {"audience sends a peer message", "POST", "/v1/rooms/" + room + "/peer/bob", comment,
       bearer(Token("alice", v1::ROLE_AUDIENCE, room)), 403},
      {"expired moderator sends a peer message", "POST", "/v1/rooms/" + room + "/peer/bob",
       comment, bearer(Token("mod", v1::ROLE_MODERATOR, room, -1)), 401},
      {"someone else's hint key", "GET", "/v1/rooms/" + room + "/peer/bob/key", "",
       bearer(Token("alice", v1::ROLE_AUDIENCE, room)), 403},
  };
  for (const Case& c : cases) {
    HttpResponse r = Fetch(c.method, PublisherUrl(c.path), c.body, c.headers);
    EXPECT_TRUE(IsJsonError(r, c.status)) << c.name;
    if (c.status == 401) {
      EXPECT_EQ(r.header("www-authenticate"), "Bearer") << c.name;
    }
  }

  // Nothing was stored: the next good message is the room's first, and after
  // it closes the room holds exactly it.
  HttpResponse ok = PostJson(msgs, R"({"type":"comment","text":"the only one"})", good);
  ASSERT_EQ(ok.status, 200) << ok.body;
  std::vector<Ack> acks = ParseAcks(ok.body);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].seq, 1u);
  EXPECT_EQ(origin_->Metric("roomcast_origin_objects_stored_total"), stored_before);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks[0].bucket, 250),
                               std::chrono::seconds(10)));
  RoomSegments segs = ReadSegments(room, 250, opened_k, acks[0].bucket);
  EXPECT_TRUE(segs.problems.empty()) << segs.problems.front();
  EXPECT_TRUE(SeqContinuous(segs));
  int kept = 0;
  for (const auto& [k, seg] : segs.segments) {
    for (const v1::Message& m : seg.messages()) {
      EXPECT_EQ(m.comment().text(), "the only one");
      EXPECT_EQ(m.sender(), "alice");
      ++kept;
    }
  }
  EXPECT_EQ(kept, 1);
  // No state was set by any refused request: the manifest lists none.
  v1::Manifest manifest;
  ASSERT_TRUE(manifest.ParseFromString(Get(origin_->url() + segmenter::ManifestPath(room)).body));
  EXPECT_EQ(manifest.state_version(), 0u);
  EXPECT_EQ(manifest.components_size(), 0);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// A body can name a sender, but the sender is the token's.
TEST_F(PublisherE2eAuthTest, SenderComesFromTheTokenNotTheBody) {
  const std::string room = "sender-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                            R"({"type":"comment","text":"hi","sender":"admin"})",
                            Token("carol", v1::ROLE_AUDIENCE, room));
  // Unknown fields are refused outright rather than ignored.
  EXPECT_TRUE(IsJsonError(r, 400));
  r = PostJson("/v1/rooms/" + room + "/messages", R"({"type":"comment","text":"hi"})",
               Token("carol", v1::ROLE_AUDIENCE, room));
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<Ack> acks = ParseAcks(r.body);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].seq, 1u);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks[0].bucket, 250),
                               std::chrono::seconds(10)));
  RoomSegments segs = ReadSegments(room, 250, acks[0].bucket, acks[0].bucket);
  ASSERT_EQ(segs.segments.size(), 1u);
  ASSERT_EQ(segs.segments[acks[0].bucket].messages_size(), 1);
  EXPECT_EQ(segs.segments[acks[0].bucket].messages(0).sender(), "carol");
  EXPECT_EQ(segs.segments[acks[0].bucket].messages(0).role(), v1::ROLE_AUDIENCE);
}

}  // namespace
}  // namespace roomcast::testing
