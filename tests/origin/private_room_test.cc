// Private rooms at the origin itself (DESIGN §12): every object class needs
// a valid edge token, even asked for directly (the defence behind a cache
// set up wrongly); refusals are never cacheable; what is served says
// `private` to shared caches past the edge and its real lifetime to the
// edge. Public rooms are unchanged.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;
using segmenter::Format;
using segmenter::Scope;

class PrivateRoomTest : public OriginTest {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    opened_ms_ = WallMs() - 60'000;
    v1::Manifest m = MakeManifest("vip", 1, opened_ms_);
    m.mutable_config()->set_private_(true);
    m.set_state_version(1);
    ASSERT_EQ(origin_->PutObject(segmenter::ManifestPath("vip", Format::kProto, Scope::kPrivate),
                                 segmenter::Encode(m).bytes).status, 200);
    ASSERT_EQ(origin_->PutWatermark(WallMs() - 20'000).status, 200);
    k_ = BucketIndex(WallMs(), 1000) - 10;
    v1::ActionSegment seg = MakeSegment("vip", 1000, k_, 3);
    ASSERT_EQ(origin_->PutObject(Path(segmenter::SegmentPath("vip", 1000, k_, Format::kProto,
                                                             Scope::kPrivate)),
                                 segmenter::Encode(seg).bytes).status, 201);
    v1::StateComponent c;
    c.set_room("vip");
    c.set_name("title");
    c.set_version(1);
    c.mutable_value()->set_string_value("members only");
    ASSERT_EQ(origin_->PutObject(segmenter::StatePath("vip", "title", 1, Format::kProto,
                                                      Scope::kPrivate),
                                 c.SerializeAsString()).status, 201);
  }
  static std::string Path(std::string p) { return p; }
  std::string Token(const std::string& room, int64_t ttl_s = 600,
                    const std::string& secret = kEdgeSecret) {
    return auth::MintEdgeToken(auth::EdgeAclForRoom(room), WallMs() / 1000 + ttl_s, secret);
  }
  // Every class of object of the room, as a viewer reads them.
  std::vector<std::string> Objects() {
    return {segmenter::ManifestPath("vip", Format::kProto, Scope::kPrivate),
            segmenter::ManifestPath("vip", Format::kJson, Scope::kPrivate) + "?after=0",
            segmenter::SegmentPath("vip", 1000, k_, Format::kProto, Scope::kPrivate),
            segmenter::SegmentPath("vip", 1000, k_ - 15, Format::kJson, Scope::kPrivate),
            segmenter::StatePath("vip", "title", 1, Format::kJson, Scope::kPrivate)};
  }
  std::string WithToken(const std::string& path, const std::string& token) {
    return absl::StrCat(origin_->url(), path, path.find('?') == std::string::npos ? "?" : "&",
                        "rc_token=", token);
  }
  int64_t k_ = 0;
};

TEST_F(PrivateRoomTest, EveryObjectNeedsAValidTokenEvenAskedDirectly) {
  for (const std::string& p : Objects()) {
    HttpResponse none = Get(origin_->url() + p);
    EXPECT_EQ(none.status, 401) << p;
    EXPECT_EQ(none.header("cache-control"), "private, no-store") << p;
    std::string forged = Token("vip");
    forged.back() = forged.back() == 'a' ? 'b' : 'a';
    for (const std::string& bad : {Token("vip", -1), forged, std::string("exp=1~acl=x~hmac=0"),
                                   Token("other"), Token("vip", 600, "not-the-secret")}) {
      HttpResponse r = Get(WithToken(p, bad));
      EXPECT_EQ(r.status, 403) << p << " with " << bad;
      EXPECT_EQ(r.header("cache-control"), "private, no-store") << p;
    }
  }
}

TEST_F(PrivateRoomTest, ValidTokenInTheQueryOrCookieReadsEveryObject) {
  const std::string t = Token("vip");
  std::string encoded;
  for (char c : t) {
    if (c == '~' || c == '=' || c == '/' || c == '*') {
      absl::StrAppend(&encoded, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      encoded.push_back(c);
    }
  }
  for (const std::string& p : Objects()) {
    for (const HttpResponse& r :
         {Get(WithToken(p, t)), Get(WithToken(p, encoded)),
          Get(origin_->url() + p, {"Cookie: theme=dark; rc_token=" + t})}) {
      EXPECT_EQ(r.status, 200) << p << " " << r.body;
      EXPECT_TRUE(absl::StartsWith(r.header("cache-control"), "private, max-age=")) << p;
      EXPECT_TRUE(absl::StartsWith(r.header("cdn-cache-control"), "public, max-age=")) << p;
      EXPECT_FALSE(r.header("x-accel-expires").empty()) << p;
    }
  }
  HttpResponse seg = Get(WithToken(segmenter::SegmentPath("vip", 1000, k_, Format::kProto,
                                                          Scope::kPrivate), t));
  EXPECT_EQ(seg.header("cdn-cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(seg.header("x-accel-expires"), "31536000");
}

TEST_F(PrivateRoomTest, ThePublicPrefixKnowsNothingOfAPrivateRoom) {
  for (const std::string& p :
       {segmenter::ManifestPath("vip"), segmenter::SegmentPath("vip", 1000, k_),
        segmenter::SegmentPath("vip", 1000, k_ - 15), segmenter::StatePath("vip", "title", 1)}) {
    HttpResponse r = Get(origin_->url() + p);
    EXPECT_EQ(r.status, 404) << p << " " << r.body;
  }
}

TEST_F(PrivateRoomTest, PublicRoomsNeedNoTokenAndSayNothingOfEdges) {
  OpenRoom("lobby");
  HttpResponse r = Get(origin_->url() + segmenter::ManifestPath("lobby"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("cache-control"), "public, max-age=1");
  EXPECT_EQ(r.header("cdn-cache-control"), "");
  EXPECT_EQ(Get(origin_->url() + segmenter::ManifestPath("lobby", Format::kProto, Scope::kPrivate))
                .status,
            401);  // a token is asked for before anything is said about the room
}

TEST_F(PrivateRoomTest, AManifestUnderTheWrongPrefixIsRefused) {
  v1::Manifest m = MakeManifest("vip2", 1, opened_ms_);
  m.mutable_config()->set_private_(true);
  EXPECT_EQ(origin_->PutObject(segmenter::ManifestPath("vip2"), segmenter::Encode(m).bytes).status,
            400);
}

}  // namespace
}  // namespace roomcast::testing
