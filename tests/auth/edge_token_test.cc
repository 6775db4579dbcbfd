#include "auth/edge_token.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roomcast::auth {
namespace {

constexpr char kSecret[] = "edge-secret";
constexpr int64_t kNow = 1764290000;

std::string Valid(absl::string_view room = "vip", int64_t exp = kNow + 60) {
  return MintEdgeToken(EdgeAclForRoom(room), exp, kSecret);
}

absl::Status Check(const std::string& token, absl::string_view path = "/v1/private/vip/manifest.pb") {
  return VerifyEdgeToken(token, path, kSecret, kNow);
}

TEST(EdgeTokenTest, MintedTokenHasTheEdgeAuthShape) {
  const std::string t = Valid();
  EXPECT_THAT(t, ::testing::MatchesRegex(
                     "exp=1764290060~acl=/v1/private/vip/\\*~hmac=[0-9a-f]{64}"));
  // The HMAC covers the text before "~hmac=", as any backend computes it.
  const std::string signed_part = "exp=1764290060~acl=/v1/private/vip/*";
  EXPECT_EQ(t, signed_part + "~hmac=" + base::HexEncode(base::HmacSha256(kSecret, signed_part)));
}

TEST(EdgeTokenTest, ValidTokenCoversEveryObjectOfItsRoom) {
  for (const char* path : {"/v1/private/vip/manifest.pb", "/v1/private/vip/actions/1000/5.json",
                           "/v1/private/vip/state/title/3.pb", "/v1/private/vip/snapshot/9.pb"}) {
    EXPECT_TRUE(Check(Valid(), path).ok()) << path;
  }
}

TEST(EdgeTokenTest, PrefixMatchingCannotBeFooledByALongerRoomId) {
  EXPECT_FALSE(Check(Valid("ab"), "/v1/private/abc/manifest.pb").ok());
  EXPECT_FALSE(Check(Valid("ab"), "/v1/private/ab").ok());
  EXPECT_FALSE(Check(Valid("ab"), "/v1/rooms/ab/manifest.pb").ok());
  EXPECT_TRUE(Check(Valid("ab"), "/v1/private/ab/manifest.pb").ok());
}

TEST(EdgeTokenTest, ExpiredForgedAndMalformedTokensAreDenied) {
  const std::string good = Valid();
  std::string forged = good;
  char& c = forged[forged.size() - 10];
  c = c == 'a' ? 'b' : 'a';
  const std::vector<std::string> bad = {
      Valid("vip", kNow),                                      // expired now
      Valid("vip", kNow - 1),                                  // expired
      forged,                                                  // one hex digit changed
      MintEdgeToken(EdgeAclForRoom("vip"), kNow + 60, "other"),  // another secret
      "",
      "garbage",
      good.substr(0, good.size() - 1),                         // short hmac
      absl::AsciiStrToUpper(good),                             // uppercase hex
      absl::StrCat("st=1~", good),                             // an extra field
      MintEdgeToken("/v1/private/vip*", kNow + 60, kSecret),   // a wildcard without '/'
      MintEdgeToken("/v1/private/*", kNow + 60, kSecret),      // every private room
      MintEdgeToken("/v1/rooms/vip/*", kNow + 60, kSecret),    // not the private prefix
      MintEdgeToken("/v1/private/vip/*!/v1/private/x/*", kNow + 60, kSecret),
  };
  for (const std::string& t : bad) {
    EXPECT_EQ(Check(t).code(), absl::StatusCode::kPermissionDenied) << t;
  }
  const std::string leading_zero = "exp=01764290060~acl=/v1/private/vip/*";
  EXPECT_FALSE(Check(leading_zero + "~hmac=" +
                     base::HexEncode(base::HmacSha256(kSecret, leading_zero)))
                   .ok());
}

TEST(EdgeTokenTest, AnExactPathTokenCoversThatPathOnly) {
  const std::string t = MintEdgeToken("/v1/private/vip/manifest.pb", kNow + 60, kSecret);
  EXPECT_TRUE(Check(t, "/v1/private/vip/manifest.pb").ok());
  EXPECT_FALSE(Check(t, "/v1/private/vip/manifest.json").ok());
}

TEST(EdgeTokenTest, TokenIsFoundInTheQueryRawOrEncodedOrInTheCookie) {
  const std::string t = Valid();
  EXPECT_EQ(EdgeTokenOf("after=3&rc_token=" + t, ""), t);
  EXPECT_EQ(EdgeTokenOf("rc_token=exp%3D1764290060%7Eacl%3D%2Fv1%2Fprivate%2Fvip%2F%2A%7Ehmac%3D" +
                            t.substr(t.size() - 64),
                        ""),
            t);
  EXPECT_EQ(EdgeTokenOf("", "a=b; rc_token=" + t + "; c=d"), t);
  EXPECT_EQ(EdgeTokenOf("x=1", "rc=1"), std::nullopt);
  // A broken percent-encoding is kept as sent, and then fails to verify.
  EXPECT_EQ(EdgeTokenOf("rc_token=%zz", ""), "%zz");
}

}  // namespace
}  // namespace roomcast::auth
