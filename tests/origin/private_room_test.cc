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
#include "tests/origin/private_room_fixture.h"

namespace roomcast::testing {
namespace {

using segmenter::BucketIndex;
using segmenter::Format;
using segmenter::Scope;

class PrivateRoomTest : public PrivateRoomFixture {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    StoreRoom(3);
  }
  std::string WithToken(const std::string& path, const std::string& token) {
    return TokenUrl(origin_->url(), path, token);
  }
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
