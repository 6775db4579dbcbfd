// Helpers shared by the CLI verbs: TIME arguments, message rendering, the
// edge token flags of the readers, and usage errors.
#ifndef ROOMCAST_TOOLS_CLI_COMMON_H_
#define ROOMCAST_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/flags.h"
#include "google/protobuf/message.h"
#include "roomcast/v1/message.pb.h"
#include "roomcast/v1/state.pb.h"

namespace roomcast::cli {

// A TIME argument as unix ms: "now", a relative offset from now ("-10m",
// "+30s", "-1h30m", "-500ms"; units ms, s, m, h, d), RFC 3339
// ("2025-11-28T10:00:00Z", "2025-11-28T10:00:00.250+01:00"), or unix ms.
absl::StatusOr<int64_t> ParseTime(absl::string_view arg, int64_t now_ms);

// RFC 3339 in UTC with milliseconds.
std::string FormatTime(int64_t unix_ms);

// One line for a human: "TIME #SEQ SENDER: text" (no newline).
std::string RenderText(const v1::Message& m);
std::string RenderStateText(const v1::StateComponent& c);
// protobuf's JSON mapping with proto field names, on one line.
std::string RenderJson(const google::protobuf::Message& m);

// The viewer's edge token for a private room (DESIGN §12), as tail,
// replay, verify and inspect take it: --edge-token TOKEN, else
// ROOMCAST_EDGE_TOKEN, else --edge-token-file FILE. An edge token is a
// bearer credential of limited life for reading one room, like the JWT
// `post --token` takes, so argv may carry it; the variable and the file
// keep it out of `ps` for those who want that. Registered on `flags` at
// construction, read after it parsed.
class EdgeTokenFlags {
 public:
  explicit EdgeTokenFlags(base::FlagSet& flags);
  // The token, or "" if none was given (a public room); kInvalidArgument if
  // the named file cannot be read.
  absl::StatusOr<std::string> Resolve() const;

 private:
  std::string token_, file_;
};

// What the verbs' --help says of private rooms.
inline constexpr char kPrivateRoomHelp[] =
    "A private room is read under /v1/private/ with its edge token\n"
    "(--edge-token, ROOMCAST_EDGE_TOKEN or --edge-token-file).";

// Prints "roomcast VERB: reason" and a hint to stderr; returns 2.
int UsageError(absl::string_view program, absl::string_view reason);
// Prints "roomcast VERB: reason" to stderr; returns 1.
int Failure(absl::string_view program, absl::string_view reason);

}  // namespace roomcast::cli

#endif  // ROOMCAST_TOOLS_CLI_COMMON_H_
