#include "tools/cli/common.h"

#include <algorithm>
#include <iostream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "segmenter/codec.h"
#include "segmenter/messages.h"

namespace roomcast::cli {

namespace {

// "-1h30m" -> -5400000; nullopt if not a relative time.
std::optional<int64_t> ParseRelative(absl::string_view s) {
  if (s.empty() || (s[0] != '-' && s[0] != '+')) return std::nullopt;
  const int64_t sign = s[0] == '-' ? -1 : 1;
  s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  while (!s.empty()) {
    size_t digits = 0;
    while (digits < s.size() && absl::ascii_isdigit(s[digits])) ++digits;
    int64_t n = 0;
    if (digits == 0 || digits > 12 || !absl::SimpleAtoi(s.substr(0, digits), &n)) {
      return std::nullopt;
    }
    s.remove_prefix(digits);
    int64_t unit = 0;
    if (absl::ConsumePrefix(&s, "ms")) unit = 1;
    else if (absl::ConsumePrefix(&s, "s")) unit = 1000;
    else if (absl::ConsumePrefix(&s, "m")) unit = 60'000;
    else if (absl::ConsumePrefix(&s, "h")) unit = 3'600'000;
    else if (absl::ConsumePrefix(&s, "d")) unit = 86'400'000;
    else return std::nullopt;
    total += n * unit;
  }
  return sign * total;
}

}  // namespace

absl::StatusOr<int64_t> ParseTime(absl::string_view arg, int64_t now_ms) {
  if (arg == "now") return now_ms;
  if (auto rel = ParseRelative(arg)) return now_ms + *rel;
  int64_t ms = 0;
  if (absl::SimpleAtoi(arg, &ms) && ms >= 0) return ms;
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, arg, &t, &err)) return absl::ToUnixMillis(t);
  return absl::InvalidArgumentError(absl::StrCat(
      "bad TIME '", arg,
      "': use now, -10m / +30s / -1h30m, RFC 3339 (2025-11-28T10:00:00Z) or unix ms"));
}

std::string FormatTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string RenderText(const v1::Message& m) {
  std::string body;
  switch (m.body_case()) {
    case v1::Message::kComment:
      body = m.comment().text();
      break;
    case v1::Message::kGift:
      body = absl::StrCat("sent gift ", m.gift().gift_id(), " x",
                          std::max<uint32_t>(1, m.gift().count()));
      break;
    case v1::Message::kLike:
      body = absl::StrCat("liked x", std::max<uint32_t>(1, m.like().count()));
      break;
    case v1::Message::kEnter:
      body = "entered";
      break;
    case v1::Message::kCustom:
      body = absl::StrCat(segmenter::TypeName(m), " ", RenderJson(m.custom().data()));
      break;
    case v1::Message::kRetract:
      body = absl::StrCat("[retracted #", absl::StrJoin(m.retract().seqs(), " #"), "]");
      break;
    case v1::Message::kBan:
      body = m.ban().until_ms() == 0
                 ? absl::StrCat("[unbanned ", m.ban().user(), "]")
                 : absl::StrCat("[banned ", m.ban().user(), " until ",
                                FormatTime(m.ban().until_ms()), "]");
      break;
    case v1::Message::kRedacted:
      body = "[taken down]";
      break;
    case v1::Message::kNotice:  // a follower applies notices, never shows them
      body = "[notice]";
      break;
    case v1::Message::BODY_NOT_SET:
      break;
  }
  return absl::StrCat(FormatTime(m.ts_ms()), " #", m.seq(), " ", m.sender(), ": ", body);
}

std::string RenderStateText(const v1::StateComponent& c) {
  return absl::StrCat(FormatTime(c.ts_ms()), " [state] ", c.name(), " v", c.version(),
                      " = ", RenderJson(c.value()));
}

std::string RenderJson(const google::protobuf::Message& m) {
  auto json = segmenter::ToJson(m);
  return json.ok() ? *json : std::string("{}");
}

EdgeTokenFlags::EdgeTokenFlags(base::FlagSet& flags) {
  flags.String("edge-token", &token_,
               "the edge token of a private room (also ROOMCAST_EDGE_TOKEN)");
  flags.String("edge-token-file", &file_, "file holding the edge token");
}

absl::StatusOr<std::string> EdgeTokenFlags::Resolve() const {
  if (!token_.empty()) return token_;
  absl::StatusOr<std::string> t = base::ReadSecret("ROOMCAST_EDGE_TOKEN", file_);
  // Neither the variable nor a file: a public room.
  if (absl::IsFailedPrecondition(t.status())) return std::string();
  if (!t.ok()) return absl::InvalidArgumentError(t.status().message());
  return t;
}

int UsageError(absl::string_view program, absl::string_view reason) {
  std::cerr << program << ": " << reason << "\nTry '" << program << " --help'."
            << std::endl;
  return 2;
}

int Failure(absl::string_view program, absl::string_view reason) {
  std::cerr << program << ": " << reason << std::endl;
  return 1;
}

}  // namespace roomcast::cli
