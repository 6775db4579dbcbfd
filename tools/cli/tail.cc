// roomcast tail: follows a room live, as a viewer would, and prints what
// arrives: actions, state changes, drop counts and (with a token) the
// viewer's own peer messages.
#include <csignal>
#include <iostream>

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

}  // namespace

int Tail(int argc, char** argv) {
  std::string base, room, mode = "auto", user, token_file, publisher;
  bool json = false, verbose = false;
  int64_t duration_ms = 0, count = 0;
  base::FlagSet flags(kProgram, "--base URL --room ROOM [--json]",
                       "Follows a room live from now on (through a CDN or the origin) and\n"
                       "prints every action once, in order, plus state changes. Peer\n"
                       "messages need --user and the user's token in ROOMCAST_TOKEN (or\n"
                       "--token-file). Stops on SIGINT/SIGTERM.");
  flags.String("base", &base, "origin or CDN URL, e.g. http://127.0.0.1:8080");
  flags.String("room", &room, "room id");
  flags.Bool("json", &json, "one JSON object per line (actions as Message JSON)");
  flags.String("mode", &mode, "auto, bucket or manifest: how to follow");
  flags.Int("duration-ms", &duration_ms, "stop after this long; 0 = until a signal");
  flags.Int("count", &count, "stop after this many actions; 0 = no limit");
  flags.String("user", &user, "the viewer's user id, for peer messages");
  flags.String("token-file", &token_file, "file holding the viewer's token (JWT)");
  flags.String("publisher", &publisher, "publisher URL, for the peer hint key");
  flags.Bool("verbose", &verbose, "report retried errors on stderr");
  flags.Require("base");
  flags.Require("room");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (!args.empty()) return UsageError(kProgram, "takes no positional arguments");
  client::FollowMode fm;
  if (mode == "auto") fm = client::FollowMode::kAuto;
  else if (mode == "bucket") fm = client::FollowMode::kBucketHold;
  else if (mode == "manifest") fm = client::FollowMode::kManifestHold;
  else return UsageError(kProgram, "--mode takes auto, bucket or manifest");
  if (duration_ms < 0 || count < 0) return UsageError(kProgram, "--duration-ms and --count are >= 0");
  std::string token;
  if (!user.empty()) {
    auto t = base::ReadSecret("ROOMCAST_TOKEN", token_file);
    if (!t.ok()) return UsageError(kProgram, t.status().message());
    token = *t;
  }
  // Fail fast on a wrong URL; a room that does not exist yet is waited for.
  if (auto m = client::FetchManifest(base, room); !m.ok()) {
    if (!absl::IsNotFound(m.status())) return Failure(kProgram, m.status().message());
    std::cerr << kProgram << ": no room " << room << " yet; waiting" << std::endl;
  }

  client::Client c({.base_url = base, .publisher_url = publisher});
  int64_t actions = 0;
  bool ended = false;
  client::Callbacks cb;
  cb.on_action = [&](const v1::Message& m) {
    ++actions;
    std::cout << (json ? RenderJson(m) : RenderText(m)) << "\n" << std::flush;
  };
  cb.on_state = [&](const v1::StateComponent& s) {
    std::cout << (json ? absl::StrCat("{\"state\":", RenderJson(s), "}") : RenderStateText(s))
              << "\n" << std::flush;
  };
  cb.on_peer = [&](const v1::Message& m) {
    std::cout << (json ? absl::StrCat("{\"peer\":", RenderJson(m), "}")
                       : absl::StrCat(RenderText(m), " [to you]"))
              << "\n" << std::flush;
  };
  cb.on_dropped = [&](int64_t k, const std::map<std::string, uint64_t>& dropped) {
    for (const auto& [type, n] : dropped) {
      std::cout << (json ? absl::StrCat("{\"dropped\":{\"bucket\":", k, ",\"type\":\"", type,
                                        "\",\"count\":", n, "}}")
                         : absl::StrCat("[+", n, " more ", type, "]"))
                << "\n";
    }
  };
  cb.on_gap = [&](uint64_t a, uint64_t b) {
    std::cerr << kProgram << ": seqs " << a << ".." << b << " are lost" << std::endl;
  };
  cb.on_epoch_change = [&](uint64_t, uint64_t) {
    std::cerr << kProgram << ": the room was re-created; following it anew" << std::endl;
  };
  cb.on_error = [&](const absl::Status& s) {
    if (verbose || absl::IsPermissionDenied(s)) std::cerr << kProgram << ": " << s.message() << std::endl;
  };
  cb.on_ended = [&] { ended = true; };
  c.Follow({.room = room, .mode = fm, .user = user, .token = token}, std::move(cb));

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const auto until = duration_ms > 0
                         ? std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms)
                         : std::chrono::steady_clock::time_point::max();
  c.RunUntil([&] { return g_stop != 0 || ended || (count > 0 && actions >= count); }, until);
  if (ended) std::cerr << kProgram << ": the room ended" << std::endl;
  return 0;
}

}  // namespace roomcast::cli
