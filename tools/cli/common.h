// Helpers shared by the CLI verbs: TIME arguments, message rendering, and
// usage errors.
#ifndef ROOMCAST_TOOLS_CLI_COMMON_H_
#define ROOMCAST_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// Prints "roomcast VERB: reason" and a hint to stderr; returns 2.
int UsageError(absl::string_view program, absl::string_view reason);
// Prints "roomcast VERB: reason" to stderr; returns 1.
int Failure(absl::string_view program, absl::string_view reason);

}  // namespace roomcast::cli

#endif  // ROOMCAST_TOOLS_CLI_COMMON_H_
