// roomcast token: mints an HS256 JWT (DESIGN §6) for tests and demos. The
// secret comes from ROOMCAST_JWT_SECRET or --jwt-secret-file, never argv.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "base/flags.h"
#include "segmenter/naming.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {

int Token(int argc, char** argv) {
  constexpr char kProgram[] = "roomcast token";
  std::string sub, role, room, secret_file;
  int64_t ttl = 3600;
  base::FlagSet flags(kProgram, "--sub U --role R --room ROOM [--ttl 3600]",
                       "Prints a signed token (HS256 JWT) for user U with role R\n"
                       "(audience, anchor, moderator, service) in ROOM (or * for any room:\n"
                       "service and moderator only), valid for at most 30 days.\n"
                       "The secret comes from ROOMCAST_JWT_SECRET or --jwt-secret-file.");
  flags.String("sub", &sub, "user id");
  flags.String("role", &role, "audience, anchor, moderator or service");
  flags.String("room", &room, "room id, or * for every room");
  flags.Int("ttl", &ttl, "seconds until it expires");
  flags.String("jwt-secret-file", &secret_file, "file holding the JWT secret");
  for (const char* f : {"sub", "role", "room"}) flags.Require(f);
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (!args.empty()) return UsageError(kProgram, "takes no positional arguments");
  if (!segmenter::IsValidId(sub)) return UsageError(kProgram, "--sub must be [A-Za-z0-9_-]{1,64}");
  if (room != "*" && !segmenter::IsValidId(room)) {
    return UsageError(kProgram, "--room must be [A-Za-z0-9_-]{1,64} or *");
  }
  auto r = auth::ParseRole(role);
  if (!r.ok()) return UsageError(kProgram, r.status().message());
  if (room == "*" && !auth::MayNameEveryRoom(*r)) {
    return UsageError(kProgram, "--room * is for service and moderator tokens only");
  }
  if (ttl <= 0 || ttl > auth::kMaxTokenLifetimeS) {
    return UsageError(kProgram, absl::StrCat("--ttl must be 1..", auth::kMaxTokenLifetimeS,
                                             " (30 days)"));
  }
  auto secret = base::ReadSecret("ROOMCAST_JWT_SECRET", secret_file);
  if (!secret.ok()) return Failure(kProgram, secret.status().message());
  const int64_t exp = base::SystemClock().NowMs() / 1000 + ttl;
  std::cout << auth::MintJwt({.sub = sub, .role = *r, .room = room, .exp = exp}, *secret)
            << std::endl;
  return 0;
}

}  // namespace roomcast::cli
