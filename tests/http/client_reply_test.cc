// ClientReply: the header block as libcurl hands it over, and the typed
// views of the headers clients act on.
#include "http/client_reply.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace roomcast::http {
namespace {

using std::chrono::milliseconds;

ClientReply WithHeader(const std::string& line) {
  ClientReply r;
  AddHeaderLine(line + "\r\n", &r);
  return r;
}

TEST(ClientReplyTest, HeaderNamesAreCaseInsensitiveAndValuesTrimmed) {
  ClientReply r;
  AddHeaderLine("HTTP/1.1 200 OK\r\n", &r);
  AddHeaderLine("ETag:   \"abc\" \r\n", &r);
  AddHeaderLine("Cache-Control: public, max-age=1\r\n", &r);
  AddHeaderLine("\r\n", &r);

  EXPECT_EQ(r.Header("etag"), "\"abc\"");
  EXPECT_EQ(r.Header("ETAG"), "\"abc\"");
  EXPECT_EQ(r.headers.at("cache-control"), "public, max-age=1");
  EXPECT_EQ(r.Header("x-missing"), "");
  EXPECT_EQ(r.headers.size(), 2u)
      << "the status and blank lines are no headers";
}

TEST(ClientReplyTest, RepeatedHeadersAreJoinedWithCommas) {
  ClientReply r;
  AddHeaderLine("Vary: Accept-Encoding\r\n", &r);
  AddHeaderLine("vary: Origin\r\n", &r);
  EXPECT_EQ(r.Header("vary"), "Accept-Encoding, Origin");
}

TEST(ClientReplyTest, AStatusLineStartsANewHeaderBlock) {
  ClientReply r;
  AddHeaderLine("HTTP/1.1 100 Continue\r\n", &r);
  AddHeaderLine("X-Interim: yes\r\n", &r);
  AddHeaderLine("HTTP/1.1 200 OK\r\n", &r);
  AddHeaderLine("Age: 3\r\n", &r);
  EXPECT_EQ(r.Header("x-interim"), "");
  EXPECT_EQ(r.AgeSeconds(), 3);
}

TEST(ClientReplyTest, MaxAgeIsReadFromCacheControl) {
  EXPECT_EQ(
      WithHeader("Cache-Control: public, max-age=31536000, immutable").MaxAge(),
      31536000);
  EXPECT_EQ(WithHeader("Cache-Control: max-age=60").MaxAge(), 60);
  EXPECT_EQ(WithHeader("Cache-Control: no-store").MaxAge(), -1);
  EXPECT_EQ(WithHeader("Cache-Control: s-maxage=5").MaxAge(), -1);
  EXPECT_EQ(ClientReply().MaxAge(), -1);
}

TEST(ClientReplyTest, AgeIsZeroWhenAbsentOrMalformed) {
  EXPECT_EQ(ClientReply().AgeSeconds(), 0);
  EXPECT_EQ(WithHeader("Age: soon").AgeSeconds(), 0);
  EXPECT_EQ(WithHeader("Age: 12").AgeSeconds(), 12);
}

TEST(ClientReplyTest, DateIsAnImfFixdate) {
  EXPECT_EQ(WithHeader("Date: Sat, 28 Nov 2026 01:24:55 GMT").DateMs(),
            1795829095000);
  EXPECT_EQ(WithHeader("Date: yesterday").DateMs(), std::nullopt);
  EXPECT_EQ(ClientReply().DateMs(), std::nullopt);
}

TEST(ClientReplyTest, RetryAfterTakesSecondsOrAnHttpDate) {
  EXPECT_EQ(WithHeader("Retry-After: 2").RetryAfter(), milliseconds(2000));
  EXPECT_EQ(WithHeader("Retry-After: -5").RetryAfter(), milliseconds(0));
  EXPECT_EQ(WithHeader("Retry-After: later").RetryAfter(), std::nullopt);
  EXPECT_EQ(ClientReply().RetryAfter(), std::nullopt);
  const std::string in_a_minute =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                       absl::Now() + absl::Seconds(60), absl::UTCTimeZone());
  std::optional<milliseconds> wait =
      WithHeader("Retry-After: " + in_a_minute).RetryAfter();
  ASSERT_TRUE(wait.has_value());
  EXPECT_GT(*wait, milliseconds(58000));
  EXPECT_LE(*wait, milliseconds(60000));
  EXPECT_EQ(
      WithHeader("Retry-After: Sat, 01 Jan 2000 00:00:00 GMT").RetryAfter(),
      milliseconds(0))
      << "a date in the past means now";
}

}  // namespace
}  // namespace roomcast::http
