#include "http/client_reply.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace roomcast::http {
namespace {

// IMF-fixdate (RFC 9110 §5.6.7), the form every server and cache here sends.
std::optional<absl::Time> ParseHttpDate(const std::string& v) {
  absl::Time t;
  std::string err;
  if (v.empty() || !absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", v,
                                    absl::UTCTimeZone(), &t, &err)) {
    return std::nullopt;
  }
  return t;
}

}  // namespace

std::string ClientReply::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? std::string() : it->second;
}

int64_t ClientReply::MaxAge() const {
  for (absl::string_view part : absl::StrSplit(Header("cache-control"), ',')) {
    part = absl::StripAsciiWhitespace(part);
    int64_t v = 0;
    if (absl::ConsumePrefix(&part, "max-age=") && absl::SimpleAtoi(part, &v)) {
      return v;
    }
  }
  return -1;
}

int64_t ClientReply::AgeSeconds() const {
  int64_t age = 0;
  return absl::SimpleAtoi(Header("age"), &age) ? age : 0;
}

std::optional<int64_t> ClientReply::DateMs() const {
  std::optional<absl::Time> t = ParseHttpDate(Header("date"));
  if (!t || *t <= absl::UnixEpoch()) return std::nullopt;
  return absl::ToUnixMillis(*t);
}

std::optional<std::chrono::milliseconds> ClientReply::RetryAfter() const {
  const std::string v = Header("retry-after");
  int64_t seconds = 0;
  if (absl::SimpleAtoi(v, &seconds)) {
    return std::chrono::milliseconds(std::max<int64_t>(0, seconds) * 1000);
  }
  if (std::optional<absl::Time> t = ParseHttpDate(v)) {
    return std::chrono::milliseconds(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(*t - absl::Now())));
  }
  return std::nullopt;
}

void AddHeaderLine(absl::string_view line, ClientReply* reply) {
  if (absl::StartsWith(line, "HTTP/")) {
    reply->headers.clear();
    return;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return;
  std::string& slot = reply->headers[absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(line.substr(0, colon)))];
  absl::StrAppend(&slot, slot.empty() ? "" : ", ",
                  absl::StripAsciiWhitespace(line.substr(colon + 1)));
}

}  // namespace roomcast::http
