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
    R"({"sub":"u1","role":"moderator","room":"*","exp":1764290060})";

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
  EXPECT_EQ(c->role, v1::ROLE_MODERATOR);
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
  // No signature at all: refused before the header is even read.
  EXPECT_EQ(VerifyJwt(t, kSecret, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
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

// The signature's last character with one of its two unused low bits set:
// the same 32 bytes to a lenient decoder.
std::string NonCanonical(std::string token) {
  constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  token.back() = kAlphabet[kAlphabet.find(token.back()) | 1];
  return token;
}

TEST(JwtTest, OneTokenHasOneSpelling) {
  const std::string t = MintJwt(Viewer(), kSecret);
  ASSERT_TRUE(VerifyJwt(t, kSecret, kNow).ok());
  for (const std::string& other :
       {NonCanonical(t), t + "=", t + "==", absl::StrCat(t.substr(0, 10), " ", t.substr(10)),
        absl::StrCat(t.substr(0, t.size() - 5), "=", t.substr(t.size() - 4)),
        absl::StrCat(t.substr(0, 5), "+", t.substr(6))}) {
    EXPECT_EQ(VerifyJwt(other, kSecret, kNow).status().code(),
              absl::StatusCode::kUnauthenticated)
        << other;
  }
}

TEST(JwtTest, NothingIsParsedBeforeTheSignatureChecks) {
  // A deep header that would cost the JSON parser dearly, unsigned: refused
  // for its signature, not for its header.
  const std::string header = std::string(2000, '[') + std::string(2000, ']');
  const std::string t = absl::StrCat(absl::WebSafeBase64Escape(header), ".",
                                     absl::WebSafeBase64Escape(kPayload), ".AAAA");
  EXPECT_THAT(VerifyJwt(t, kSecret, kNow).status().message(),
              ::testing::HasSubstr("signature"));
  // Signed, it is still bounded by a scan before any parse.
  EXPECT_THAT(VerifyJwt(Forge(std::string(20, '[') + std::string(20, ']'), kPayload),
                        kSecret, kNow)
                  .status()
                  .message(),
              ::testing::HasSubstr("nests too deeply"));
}

TEST(JwtTest, CritHeaderIsRefused) {
  EXPECT_THAT(VerifyJwt(Forge(R"({"alg":"HS256","crit":["exp"]})", kPayload), kSecret,
                        kNow).status().message(),
              ::testing::HasSubstr("critical"));
  EXPECT_FALSE(VerifyJwt(Forge(R"({"alg":"HS256","typ":"JOSE+JSON"})", kPayload),
                         kSecret, kNow).ok());
  EXPECT_TRUE(VerifyJwt(Forge(R"({"alg":"HS256"})", kPayload), kSecret, kNow).ok());
}

TEST(JwtTest, TimesMustBeWholeSecondsAndExpWithinThirtyDays) {
  auto with = [](absl::string_view extra, int64_t exp) {
    return Forge(kHs256, absl::StrCat(R"({"sub":"u","role":"anchor","room":"r","exp":)", exp,
                                      extra, "}"));
  };
  EXPECT_TRUE(VerifyJwt(with("", kNow + kMaxTokenLifetimeS), kSecret, kNow).ok());
  EXPECT_THAT(VerifyJwt(with("", kNow + kMaxTokenLifetimeS + 1), kSecret, kNow)
                  .status().message(),
              ::testing::HasSubstr("30 days"));
  EXPECT_FALSE(VerifyJwt(with("", kNow + 100 * 365 * 86400LL), kSecret, kNow).ok());
  EXPECT_FALSE(VerifyJwt(Forge(kHs256, R"({"sub":"u","role":"anchor","room":"r","exp":1764290060.5})"),
                         kSecret, kNow).ok());
  EXPECT_FALSE(VerifyJwt(with(R"(,"nbf":"soon")", kNow + 60), kSecret, kNow).ok())
      << "a malformed nbf is not ignored";
  EXPECT_FALSE(VerifyJwt(with(absl::StrCat(R"(,"nbf":)", kNow + 600), kNow + 900), kSecret,
                         kNow).ok());
  EXPECT_TRUE(VerifyJwt(with(absl::StrCat(R"(,"nbf":)", kNow + 5), kNow + 900), kSecret,
                        kNow).ok())
      << "a backend clock a few seconds ahead is tolerated";
  EXPECT_FALSE(VerifyJwt(with(R"(,"iat":-1)", kNow + 60), kSecret, kNow).ok());
}

TEST(JwtTest, OnlyServiceAndModeratorTokensNameEveryRoom) {
  for (v1::Role role : {v1::ROLE_AUDIENCE, v1::ROLE_ANCHOR}) {
    Claims c{.sub = "u", .role = role, .room = "*", .exp = kNow + 60};
    EXPECT_FALSE(VerifyJwt(MintJwt(c, kSecret), kSecret, kNow).ok()) << RoleName(role);
  }
  for (v1::Role role : {v1::ROLE_SERVICE, v1::ROLE_MODERATOR}) {
    Claims c{.sub = "u", .role = role, .room = "*", .exp = kNow + 60};
    EXPECT_TRUE(VerifyJwt(MintJwt(c, kSecret), kSecret, kNow).ok()) << RoleName(role);
  }
}

TEST(JwtTest, RoomClaimLimitsRooms) {
  Claims c = Viewer();
  EXPECT_TRUE(AllowsRoom(c, "lobby"));
  EXPECT_FALSE(AllowsRoom(c, "other"));
}

}  // namespace
}  // namespace roomcast::auth
