#include "auth/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roomcast::auth {
namespace {

constexpr char kSecret[] = "test-secret";
constexpr int64_t kNow = 1764290000;

Claims Viewer() {
  return {.sub = "u1", .role = v1::ROLE_AUDIENCE, .room = "lobby",
          .exp = kNow + 60};
}

// A token with any header and payload JSON, signed HS256 with `secret`.
std::string Forge(absl::string_view header, absl::string_view payload,
                  absl::string_view secret = kSecret) {
  std::string signed_part = absl::StrCat(absl::WebSafeBase64Escape(header), ".",
                                         absl::WebSafeBase64Escape(payload));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()),
       signed_part.size(), mac, &len);
  return absl::StrCat(signed_part, ".",
                      absl::WebSafeBase64Escape(absl::string_view(
                          reinterpret_cast<const char*>(mac), len)));
}

constexpr char kHs256[] = R"({"alg":"HS256","typ":"JWT"})";
constexpr char kPayload[] =
    R"({"sub":"u1","role":"anchor","room":"*","exp":1764290060})";

TEST(JwtTest, MintedTokenVerifiesWithItsClaims) {
  absl::StatusOr<Claims> c = VerifyJwt(MintJwt(Viewer(), kSecret), kSecret, kNow);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sub, "u1");
  EXPECT_EQ(c->role, v1::ROLE_AUDIENCE);
  EXPECT_EQ(c->room, "lobby");
  EXPECT_EQ(c->exp, kNow + 60);
}

TEST(JwtTest, TokenFromAnotherLibraryVerifies) {
  absl::StatusOr<Claims> c = VerifyJwt(Forge(kHs256, kPayload), kSecret, kNow);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->role, v1::ROLE_ANCHOR);
  EXPECT_TRUE(AllowsRoom(*c, "any-room"));
}

TEST(JwtTest, WrongSecretIsRefused) {
  EXPECT_EQ(VerifyJwt(MintJwt(Viewer(), "other"), kSecret, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(JwtTest, TamperedPayloadIsRefused) {
  std::string t = MintJwt(Viewer(), kSecret);
  std::string other = MintJwt({.sub = "admin", .role = v1::ROLE_SERVICE,
                               .room = "*", .exp = kNow + 60}, kSecret);
  // Header and signature of one token, payload of another.
  auto parts = [](const std::string& s) {
    return std::make_pair(s.find('.'), s.rfind('.'));
  };
  auto [a1, a2] = parts(t);
  auto [b1, b2] = parts(other);
  std::string spliced = t.substr(0, a1) + other.substr(b1, b2 - b1) + t.substr(a2);
  EXPECT_FALSE(VerifyJwt(spliced, kSecret, kNow).ok());
}

TEST(JwtTest, AlgNoneIsRefused) {
  std::string t = absl::StrCat(
      absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})"), ".",
      absl::WebSafeBase64Escape(kPayload), ".");
  EXPECT_THAT(VerifyJwt(t, kSecret, kNow).status().message(),
              ::testing::HasSubstr("alg"));
}

TEST(JwtTest, OtherAlgorithmsAreRefusedEvenWithAValidMac) {
  for (const char* alg : {"HS384", "HS512", "RS256", "hs256", "none"}) {
    std::string header = absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})");
    EXPECT_EQ(VerifyJwt(Forge(header, kPayload), kSecret, kNow).status().code(),
              absl::StatusCode::kUnauthenticated)
        << alg;
  }
  EXPECT_FALSE(VerifyJwt(Forge(R"({"typ":"JWT"})", kPayload), kSecret, kNow).ok());
}

TEST(JwtTest, ExpiredAndMissingExpAreRefused) {
  Claims c = Viewer();
  c.exp = kNow;
  EXPECT_THAT(VerifyJwt(MintJwt(c, kSecret), kSecret, kNow).status().message(),
              ::testing::HasSubstr("expired"));
  EXPECT_FALSE(VerifyJwt(Forge(kHs256, R"({"sub":"u","role":"anchor","room":"r"})"),
                         kSecret, kNow).ok());
}

TEST(JwtTest, BadClaimsAreRefused) {
  for (const char* p : {
           R"({"sub":"u","role":"admin","room":"r","exp":1764290060})",
           R"({"sub":"../x","role":"anchor","room":"r","exp":1764290060})",
           R"({"sub":"u","role":"anchor","room":"a/b","exp":1764290060})",
           R"({"sub":7,"role":"anchor","room":"r","exp":1764290060})",
           R"({"sub":"u","role":"anchor","room":"r","exp":"soon"})",
           R"(["not", "an", "object"])",
           "not json"}) {
    EXPECT_EQ(VerifyJwt(Forge(kHs256, p), kSecret, kNow).status().code(),
              absl::StatusCode::kUnauthenticated)
        << p;
  }
}

TEST(JwtTest, MalformedTokensAreRefused) {
  for (const char* t : {"", "a", "a.b", "a.b.c.d", "!!.??.**", "..",
                        "eyJhbGciOiJIUzI1NiJ9..sig"}) {
    EXPECT_EQ(VerifyJwt(t, kSecret, kNow).status().code(),
              absl::StatusCode::kUnauthenticated)
        << t;
  }
}

TEST(JwtTest, RoomClaimLimitsRooms) {
  Claims c = Viewer();
  EXPECT_TRUE(AllowsRoom(c, "lobby"));
  EXPECT_FALSE(AllowsRoom(c, "other"));
}

}  // namespace
}  // namespace roomcast::auth
