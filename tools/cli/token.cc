// roomcast token: mints an HS256 JWT (DESIGN §6) for tests and demos. The
// secret comes from ROOMCAST_JWT_SECRET or --jwt-secret-file, never argv.
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "auth/edge_token.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "base/flags.h"
#include "segmenter/naming.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {

namespace {

constexpr char kProgram[] = "roomcast token";

struct TokenArgs {
  std::string sub, role, room, jwt_secret_file, edge_secret_file;
  int64_t ttl = 3600;
  bool edge = false;
};

// Exits 0 on --help, 2 on bad usage.
TokenArgs ParseTokenArgs(int argc, char** argv) {
  TokenArgs a;
  base::FlagSet flags(kProgram,
                      "--sub U --role R --room ROOM [--ttl 3600] | --edge --room ROOM [--ttl 3600]",
                      "Prints a signed token (HS256 JWT) for user U with role R\n"
                      "(audience, anchor, moderator, service) in ROOM (or * for any room:\n"
                      "service and moderator only), valid for at most 30 days.\n"
                      "The secret comes from ROOMCAST_JWT_SECRET or --jwt-secret-file.\n"
                      "With --edge: an edge token for the private room ROOM instead\n"
                      "(exp=...~acl=/v1/private/ROOM/*~hmac=...), signed with\n"
                      "ROOMCAST_EDGE_SECRET or --edge-secret-file.");
  flags.String("sub", &a.sub, "user id");
  flags.String("role", &a.role, "audience, anchor, moderator or service");
  flags.String("room", &a.room, "room id, or * for every room");
  flags.Int("ttl", &a.ttl, "seconds until it expires");
  flags.String("jwt-secret-file", &a.jwt_secret_file, "file holding the JWT secret");
  flags.Bool("edge", &a.edge, "mint an edge token for a private room");
  flags.String("edge-secret-file", &a.edge_secret_file, "file holding the edge secret");
  flags.Require("room");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  auto usage = [](absl::string_view why) { std::exit(UsageError(kProgram, why)); };
  if (!args.empty()) usage("takes no positional arguments");
  if (a.ttl <= 0 || a.ttl > auth::kMaxTokenLifetimeS) {
    usage(absl::StrCat("--ttl must be 1..", auth::kMaxTokenLifetimeS, " (30 days)"));
  }
  if (a.edge) {
    if (!a.sub.empty() || !a.role.empty()) usage("--edge takes --room and --ttl only");
    if (!segmenter::IsValidId(a.room)) usage("--room must be [A-Za-z0-9_-]{1,64}");
    return a;
  }
  if (a.sub.empty() || a.role.empty()) usage("--sub and --role are required (or --edge)");
  if (!segmenter::IsValidId(a.sub)) usage("--sub must be [A-Za-z0-9_-]{1,64}");
  if (a.room != "*" && !segmenter::IsValidId(a.room)) {
    usage("--room must be [A-Za-z0-9_-]{1,64} or *");
  }
  return a;
}

int EdgeToken(const TokenArgs& a) {
  auto secret = base::ReadSecret("ROOMCAST_EDGE_SECRET", a.edge_secret_file);
  if (!secret.ok()) return Failure(kProgram, secret.status().message());
  const int64_t exp = base::SystemClock().NowMs() / 1000 + a.ttl;
  std::cout << auth::MintEdgeToken(auth::EdgeAclForRoom(a.room), exp, *secret) << std::endl;
  return 0;
}

}  // namespace

int Token(int argc, char** argv) {
  const TokenArgs a = ParseTokenArgs(argc, argv);
  if (a.edge) return EdgeToken(a);
  auto r = auth::ParseRole(a.role);
  if (!r.ok()) return UsageError(kProgram, r.status().message());
  if (a.room == "*" && !auth::MayNameEveryRoom(*r)) {
    return UsageError(kProgram, "--room * is for service and moderator tokens only");
  }
  auto secret = base::ReadSecret("ROOMCAST_JWT_SECRET", a.jwt_secret_file);
  if (!secret.ok()) return Failure(kProgram, secret.status().message());
  const int64_t exp = base::SystemClock().NowMs() / 1000 + a.ttl;
  std::cout << auth::MintJwt({.sub = a.sub, .role = *r, .room = a.room, .exp = exp}, *secret)
            << std::endl;
  return 0;
}

}  // namespace roomcast::cli
