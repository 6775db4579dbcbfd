// roomcast tail: follows a room live, as a viewer would, and prints what
// arrives: actions, state changes, drop counts, `[retracted #seq]` for a
// printed action a moderator retracted (the client never delivers one it
// knows is retracted, from the room's `redactions` or a `retract` record,
// nor a takedown's stub: DESIGN §11), and (with a token) the viewer's own
// peer messages. A private room is followed with its edge
// token; a refusal ends the command (exit 1). Each line is flushed as it is
// printed: from a server that streams open buckets (DESIGN §10) an action
// shows as soon as its record arrives, before its bucket closes.
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "client/client.h"
#include "client/fetch.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

constexpr char kProgram[] = "roomcast tail";
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct TailArgs {
  std::string base, room, publisher, user, token, edge_token;
  client::FollowMode mode = client::FollowMode::kAuto;
  bool json = false, verbose = false;
  int64_t duration_ms = 0, count = 0;
};

absl::StatusOr<client::FollowMode> ParseMode(const std::string& mode) {
  if (mode == "auto") return client::FollowMode::kAuto;
  if (mode == "bucket") return client::FollowMode::kBucketHold;
  if (mode == "manifest") return client::FollowMode::kManifestHold;
  return absl::InvalidArgumentError("--mode takes auto, bucket or manifest");
}

// The flags, checked, and the viewer's token; a bad flag has already ended
// the program (exit 2).
absl::StatusOr<TailArgs> ParseArgs(int argc, char** argv) {
  TailArgs a;
  std::string mode = "auto", token_file;
  base::FlagSet flags(kProgram, "--base URL --room ROOM [--json] [--edge-token TOKEN]",
                      absl::StrCat(
                          "Follows a room live from now on (through a CDN or the origin) and\n"
                          "prints every action once, in order, plus state changes. Peer\n"
                          "A retracted message is never printed; one printed before its\n"
                          "retraction is followed by [retracted #SEQ]. Peer\n"
                          "messages need --user and the user's token in ROOMCAST_TOKEN (or\n"
                          "--token-file). Stops on SIGINT/SIGTERM; exits 1 if the room's\n"
                          "objects are refused (a missing, expired or wrong edge token).\n",
                          kPrivateRoomHelp));
  flags.String("base", &a.base, "origin or CDN URL, e.g. http://127.0.0.1:8080");
  flags.String("room", &a.room, "room id");
  flags.Bool("json", &a.json, "one JSON object per line (actions as Message JSON)");
  flags.String("mode", &mode, "auto, bucket or manifest: how to follow");
  flags.Int("duration-ms", &a.duration_ms, "stop after this long; 0 = until a signal");
  flags.Int("count", &a.count, "stop after this many actions; 0 = no limit");
  flags.String("user", &a.user, "the viewer's user id, for peer messages");
  flags.String("token-file", &token_file, "file holding the viewer's token (JWT)");
  flags.String("publisher", &a.publisher, "publisher URL, for the peer hint key");
  flags.Bool("verbose", &a.verbose, "report retried errors on stderr");
  EdgeTokenFlags edge_token(flags);
  flags.Require("base");
  flags.Require("room");
  if (!flags.ParseOrExit(argc, argv, 2).empty()) {
    return absl::InvalidArgumentError("takes no positional arguments");
  }
  absl::StatusOr<client::FollowMode> fm = ParseMode(mode);
  if (!fm.ok()) return fm.status();
  a.mode = *fm;
  absl::StatusOr<std::string> edge = edge_token.Resolve();
  if (!edge.ok()) return edge.status();
  a.edge_token = *edge;
  if (a.duration_ms < 0 || a.count < 0) {
    return absl::InvalidArgumentError("--duration-ms and --count are >= 0");
  }
  if (!a.user.empty()) {
    absl::StatusOr<std::string> t = base::ReadSecret("ROOMCAST_TOKEN", token_file);
    if (!t.ok()) return t.status();
    a.token = *t;
  }
  return a;
}

// What the follower delivers, as lines on stdout (one JSON object each with
// --json); trouble on stderr.
constexpr size_t kMaxRemembered = 100000;

client::Callbacks Printer(const TailArgs& a, int64_t* actions, bool* ended,
                          std::optional<absl::Status>* refused) {
  const bool json = a.json;
  client::Callbacks cb;
  // What was printed, so a retraction names only those (the latest ones:
  // a retraction reaches back minutes, not hours).
  auto printed = std::make_shared<std::set<uint64_t>>();
  cb.on_action = [=](const v1::Message& m) {
    ++*actions;
    printed->insert(m.seq());
    if (printed->size() > kMaxRemembered) printed->erase(printed->begin());
    std::cout << (json ? RenderJson(m) : RenderText(m)) << "\n" << std::flush;
  };
  cb.on_retract = [=](const v1::Message& r) {
    for (uint64_t seq : r.retract().seqs()) {
      if (!printed->contains(seq)) continue;  // never shown: nothing to take back
      std::cout << (json ? absl::StrCat("{\"retracted\":", seq, "}")
                         : absl::StrCat("[retracted #", seq, "]"))
                << "\n" << std::flush;
    }
  };
  cb.on_state = [=](const v1::StateComponent& s) {
    std::cout << (json ? absl::StrCat("{\"state\":", RenderJson(s), "}") : RenderStateText(s))
              << "\n" << std::flush;
  };
  cb.on_peer = [=](const v1::Message& m) {
    std::cout << (json ? absl::StrCat("{\"peer\":", RenderJson(m), "}")
                       : absl::StrCat(RenderText(m), " [to you]"))
              << "\n" << std::flush;
  };
  cb.on_dropped = [=](int64_t k, const std::map<std::string, uint64_t>& dropped) {
    for (const auto& [type, n] : dropped) {
      std::cout << (json ? absl::StrCat("{\"dropped\":{\"bucket\":", k, ",\"type\":\"", type,
                                        "\",\"count\":", n, "}}")
                         : absl::StrCat("[+", n, " more ", type, "]"))
                << "\n" << std::flush;
    }
  };
  cb.on_gap = [](uint64_t first, uint64_t last) {
    std::cerr << kProgram << ": seqs " << first << ".." << last << " are lost" << std::endl;
  };
  cb.on_epoch_change = [](uint64_t, uint64_t) {
    std::cerr << kProgram << ": the room was re-created; following it anew" << std::endl;
  };
  cb.on_error = [verbose = a.verbose](const absl::Status& s) {
    if (verbose || absl::IsPermissionDenied(s)) std::cerr << kProgram << ": " << s.message() << std::endl;
  };
  cb.on_ended = [=] { *ended = true; };
  cb.on_refused = [=](const absl::Status& s) { *refused = s; };
  return cb;
}

}  // namespace

int Tail(int argc, char** argv) {
  absl::StatusOr<TailArgs> a = ParseArgs(argc, argv);
  if (!a.ok()) return UsageError(kProgram, a.status().message());
  // Fail fast on a wrong URL or a refused token; a room that does not exist
  // yet is waited for.
  const client::RoomAccess room{.room = a->room, .edge_token = a->edge_token};
  if (auto m = client::FetchManifest(a->base, room); !m.ok()) {
    if (!absl::IsNotFound(m.status())) return Failure(kProgram, m.status().message());
    std::cerr << kProgram << ": " << m.status().message() << "; waiting for it" << std::endl;
  }
  client::Client c({.base_url = a->base, .publisher_url = a->publisher});
  int64_t actions = 0;
  bool ended = false;
  std::optional<absl::Status> refused;
  c.Follow({.room = a->room, .edge_token = a->edge_token, .mode = a->mode, .user = a->user,
            .token = a->token},
           Printer(*a, &actions, &ended, &refused));
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const auto until = a->duration_ms > 0 ? std::chrono::steady_clock::now() +
                                              std::chrono::milliseconds(a->duration_ms)
                                        : std::chrono::steady_clock::time_point::max();
  const int64_t count = a->count;
  c.RunUntil([&] { return g_stop != 0 || ended || refused || (count > 0 && actions >= count); },
             until);
  if (refused) return Failure(kProgram, refused->message());
  if (ended) std::cerr << kProgram << ": the room ended" << std::endl;
  return 0;
}

}  // namespace roomcast::cli
