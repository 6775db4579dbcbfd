// roomcast moderate: a moderator's hand on a live room through the
// publisher's DESIGN §11 API. Each subcommand is one call, authorised by the
// caller's token (as `roomcast post` takes it), and prints the publisher's
// JSON reply; a refusal is exit 1 with the publisher's reason on one line.
//
//   roomcast moderate retract --publisher URL --room lobby --seq 17
//   roomcast moderate ban --publisher URL --room lobby --user spammer
//   --duration-s 600
#include <cstring>
#include <iostream>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/naming.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

// What every subcommand needs: where the publisher is, which room, whose
// token. Registered on the subcommand's flags.
struct Target {
  std::string publisher, room, token, token_file;

  explicit Target(base::FlagSet& flags) {
    flags.String("publisher", &publisher,
                 "publisher URL, e.g. http://127.0.0.1:8081");
    flags.String("room", &room, "room id");
    flags.String("token", &token,
                 "the moderator's token (JWT; also ROOMCAST_TOKEN)");
    flags.String("token-file", &token_file, "file holding the token");
    flags.Require("publisher");
    flags.Require("room");
  }
  // "" if usable, else why not (a usage error).
  std::string Check() {
    if (!segmenter::IsValidId(room))
      return "--room must be [A-Za-z0-9_-]{1,64}";
    if (token.empty()) {
      auto t = base::ReadSecret("ROOMCAST_TOKEN", token_file);
      if (!t.ok()) return "needs --token, ROOMCAST_TOKEN or --token-file";
      token = *t;
    }
    while (!publisher.empty() && publisher.back() == '/') publisher.pop_back();
    return "";
  }
  // Parses the subcommand's flags (exit 2 on bad usage); "" if the
  // target is usable, else the usage error.
  std::string Parse(base::FlagSet& flags, int argc, char** argv) {
    if (!flags.ParseOrExit(argc, argv, 3).empty()) return "takes no positional arguments";
    return Check();
  }
  std::string Url(absl::string_view rest) const {
    return absl::StrCat(publisher, "/v1/rooms/", room, rest);
  }
};

// "HTTP 403 forbidden: only a moderator ..." from a §6 error body, or the
// body as it came if it is not one.
std::string DescribeError(const http::ClientReply& reply) {
  v1::ErrorReply e;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  std::string why = reply.body;
  if (google::protobuf::util::JsonStringToMessage(reply.body, &e, o).ok() &&
      !e.error().empty()) {
    why = absl::StrCat(e.error(), ": ", e.detail());
    if (e.until_ms() > 0)
      absl::StrAppend(&why, " (until ", FormatTime(e.until_ms()), ")");
  }
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::string out = absl::StrCat("HTTP ", reply.status, " ", why);
  if (auto it = reply.headers.find("retry-after"); it != reply.headers.end()) {
    absl::StrAppend(&out, " (retry after ", it->second, " s)");
  }
  return out;
}

// Sends one call and prints the reply: 0 on a 2xx, else 1.
int Call(const char* program, const Target& t, const std::string& method,
         const std::string& url, std::string body) {
  auto reply = client::SendOnce(
      method, url, std::move(body),
      {absl::StrCat("Authorization: Bearer ", t.token),
       "Content-Type: application/json", "Accept: application/json"});
  if (!reply.ok()) return Failure(program, reply.status().message());
  if (reply->status < 200 || reply->status >= 300)
    return Failure(program, DescribeError(*reply));
  std::cout << reply->body
            << (reply->body.empty() || reply->body.back() != '\n' ? "\n" : "");
  return 0;
}

int Retract(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast moderate retract";
  int64_t seq = 0;
  std::string reason;
  base::FlagSet flags(
      kProgram, "--publisher URL --token T --room ROOM --seq N [--reason R]",
      "Retracts message #N of ROOM (DESIGN §11): unpublished, it never\n"
      "reaches the origin; published, a `retract` record tells readers\n"
      "to hide it. A moderator, the anchor or the service may retract any\n"
      "message, a sender its own. A repeat is a success.");
  Target t(flags);
  flags.Int("seq", &seq, "the message's seq");
  flags.String("reason", &reason,
               "why, at most 256 bytes (published with the record)");
  flags.Require("seq");
  if (std::string why = t.Parse(flags, argc, argv); !why.empty()) {
    return UsageError(kProgram, why);
  }
  if (seq <= 0) return UsageError(kProgram, "--seq must be 1 or more");
  v1::RetractRequest in;
  in.set_reason(reason);
  return Call(kProgram, t, "DELETE", t.Url(absl::StrCat("/messages/", seq)),
              reason.empty() ? "" : RenderJson(in));
}

int Ban(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast moderate ban";
  std::string user, reason;
  int64_t duration_s = 600, retract_recent_s = 0;
  bool silent = false;
  base::FlagSet flags(
      kProgram,
      "--publisher URL --token T --room ROOM --user U [--duration-s 600]\n"
      "    [--retract-recent-s 0] [--reason R] [--silent]",
      "Bans user U from writing to ROOM for --duration-s seconds (its\n"
      "writes get 403 banned) and retracts what it sent in the last\n"
      "--retract-recent-s seconds. Unless --silent, a `ban` record is\n"
      "published. Prints {\"user\", \"until_ms\", \"retracted\": [seqs]}.");
  Target t(flags);
  flags.String("user", &user, "the user to ban");
  flags.Int("duration-s", &duration_s, "seconds, 1..31536000");
  flags.Int("retract-recent-s", &retract_recent_s,
            "retract its messages of the last N s, 0..3600");
  flags.String("reason", &reason, "why, at most 256 bytes");
  flags.Bool("silent", &silent, "publish no `ban` record");
  flags.Require("user");
  if (std::string why = t.Parse(flags, argc, argv); !why.empty()) {
    return UsageError(kProgram, why);
  }
  if (!segmenter::IsValidId(user))
    return UsageError(kProgram, "--user must be [A-Za-z0-9_-]{1,64}");
  if (duration_s < 1 || duration_s > 365 * 24 * 3600) {
    return UsageError(kProgram, "--duration-s must be 1..31536000");
  }
  if (retract_recent_s < 0 || retract_recent_s > 3600) {
    return UsageError(kProgram, "--retract-recent-s must be 0..3600");
  }
  v1::BanRequest in;
  in.set_user(user);
  in.set_duration_s(static_cast<uint32_t>(duration_s));
  in.set_retract_recent_s(static_cast<uint32_t>(retract_recent_s));
  in.set_reason(reason);
  in.set_silent(silent);
  return Call(kProgram, t, "POST", t.Url("/bans"), RenderJson(in));
}

int Unban(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast moderate unban";
  std::string user;
  base::FlagSet flags(
      kProgram, "--publisher URL --token T --room ROOM --user U",
      "Lifts user U's ban in ROOM (a success if there is none).");
  Target t(flags);
  flags.String("user", &user, "the banned user");
  flags.Require("user");
  if (std::string why = t.Parse(flags, argc, argv); !why.empty()) {
    return UsageError(kProgram, why);
  }
  if (!segmenter::IsValidId(user))
    return UsageError(kProgram, "--user must be [A-Za-z0-9_-]{1,64}");
  return Call(kProgram, t, "DELETE", t.Url(absl::StrCat("/bans/", user)), "");
}

int Settings(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast moderate settings";
  // -1: not given, the room keeps its value.
  int64_t slow_mode_s = -1, review_delay_ms = -1;
  base::FlagSet flags(
      kProgram,
      "--publisher URL --token T --room ROOM [--slow-mode-s N] "
      "[--review-delay-ms H]",
      "Changes ROOM's live settings (DESIGN §11) and prints them all.\n"
      "A setting not given keeps its value; with neither, prints them.");
  Target t(flags);
  flags.Int("slow-mode-s", &slow_mode_s,
            "an audience user posts once per N s, 0..3600; 0: off");
  flags.Int("review-delay-ms", &review_delay_ms,
            "publish each bucket H ms after it ends, 0..30000; 0: off");
  if (std::string why = t.Parse(flags, argc, argv); !why.empty()) {
    return UsageError(kProgram, why);
  }
  v1::RoomSettingsRequest in;
  if (slow_mode_s != -1) {
    if (slow_mode_s < 0 || slow_mode_s > 3600) {
      return UsageError(kProgram, "--slow-mode-s must be 0..3600");
    }
    in.set_slow_mode_s(static_cast<uint32_t>(slow_mode_s));
  }
  if (review_delay_ms != -1) {
    if (review_delay_ms < 0 || review_delay_ms > 30000) {
      return UsageError(kProgram, "--review-delay-ms must be 0..30000");
    }
    in.set_review_delay_ms(static_cast<uint32_t>(review_delay_ms));
  }
  return Call(kProgram, t, "PATCH", t.Url(""), RenderJson(in));
}

// Takes every `--seq N` / `--seq=N` (N may be a comma list) out of argv
// (base::FlagSet keeps one value a flag); false with `why` on a bad one.
bool TakeSeqs(int& argc, char** argv, std::vector<uint64_t>* seqs, std::string* why) {
  int out = 0;
  for (int i = 0; i < argc; ++i) {
    absl::string_view a = argv[i];
    std::optional<absl::string_view> value;
    if (a == "--seq" || a == "-seq") {
      if (i + 1 >= argc) {
        *why = "--seq needs a value";
        return false;
      }
      value = argv[++i];
    } else if (absl::ConsumePrefix(&a, "--seq=")) {
      value = a;
    }
    if (!value) {
      argv[out++] = argv[i];
      continue;
    }
    for (absl::string_view part : absl::StrSplit(*value, ',')) {
      uint64_t seq = 0;
      if (!absl::SimpleAtoi(part, &seq) || seq == 0) {
        *why = absl::StrCat("--seq must be 1 or more, not '", part, "'");
        return false;
      }
      seqs->push_back(seq);
    }
  }
  argc = out;
  return true;
}

int Takedown(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast moderate takedown";
  std::string reason;
  base::FlagSet flags(
      kProgram, "--publisher URL --token T --room ROOM --seq N [--seq M ...] [--reason R]",
      "Takes messages N, M, ... of ROOM down (DESIGN §11): legal removal\n"
      "from every stored object. The publisher replaces each published\n"
      "segment and rollup holding them with one holding stubs (seq and\n"
      "time only), through the origin, which purges the caches; the\n"
      "room's `takedowns` component records each object replaced. The\n"
      "service's token only. --seq may be repeated or a comma list (at\n"
      "most 1000). Prints {\"takedown\": id, \"seqs\": [...]} once the\n"
      "takedown is durable; a repeat is a success.");
  Target t(flags);
  std::string seq_help;  // --seq is taken out before parsing; listed for --help
  flags.String("seq", &seq_help, "a message's seq (repeatable, or N,M,...)");
  flags.String("reason", &reason, "why, at most 512 bytes of UTF-8 (recorded)");
  std::vector<uint64_t> seqs;
  std::string why;
  if (!TakeSeqs(argc, argv, &seqs, &why)) return UsageError(kProgram, why);
  if (std::string bad = t.Parse(flags, argc, argv); !bad.empty()) {
    return UsageError(kProgram, bad);
  }
  if (seqs.empty() || seqs.size() > 1000) {
    return UsageError(kProgram, "needs 1..1000 --seq");
  }
  if (reason.size() > 512) return UsageError(kProgram, "--reason is at most 512 bytes");
  v1::TakedownRequest in;
  for (uint64_t seq : seqs) in.add_seqs(seq);
  in.set_reason(reason);
  return Call(kProgram, t, "POST", t.Url("/takedown"), RenderJson(in));
}

struct Subcommand {
  const char* name;
  int (*run)(int, char**);
  const char* what;
};
constexpr Subcommand kSubcommands[] = {
    {"retract", Retract, "retract one message by its seq"},
    {"ban", Ban, "ban a user (and retract what it just sent)"},
    {"unban", Unban, "lift a user's ban"},
    {"settings", Settings, "change or show slow mode and the review delay"},
    {"takedown", Takedown, "legal removal of messages from every stored object"},
};

void Usage(std::ostream& out) {
  out << "Usage: roomcast moderate SUBCOMMAND [flags]   (each takes --help)\n\n"
         "Moderates a live room through the publisher (DESIGN §11) with a\n"
         "moderator's, the anchor's or the service's token (takedown: the\n"
         "service's only).\n\nSubcommands:\n";
  for (const Subcommand& s : kSubcommands) {
    out << "  " << s.name << std::string(10 - std::strlen(s.name), ' ')
        << s.what << "\n";
  }
}

}  // namespace

int Moderate(int argc, char** argv) {
  if (argc < 3) {
    Usage(std::cerr);
    return 2;
  }
  if (std::strcmp(argv[2], "--help") == 0 || std::strcmp(argv[2], "-h") == 0) {
    Usage(std::cout);
    return 0;
  }
  for (const Subcommand& s : kSubcommands) {
    if (std::strcmp(argv[2], s.name) == 0) return s.run(argc, argv);
  }
  return UsageError("roomcast moderate",
                    absl::StrCat("unknown subcommand '", argv[2], "'"));
}

}  // namespace roomcast::cli
