// Reading a time range of a room's actions for replay and verify: the flags
// that name it, which objects cover [from, to) (rollups for whole R-ms
// windows when asked), and fetching them.
#ifndef ROOMCAST_TOOLS_CLI_HISTORY_H_
#define ROOMCAST_TOOLS_CLI_HISTORY_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/flags.h"
#include "client/room_access.h"
#include "http/client_reply.h"
#include "tools/cli/common.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::cli {

// A room (with its access: a private room's edge token) and a time range
// of it, from the command line.
struct RangeArgs {
  std::string base;
  client::RoomAccess room;
  int64_t now = 0;  // when the command started, unix ms
  int64_t from = 0, to = 0;

  // How long to wait for the range's objects: a range reaching into the
  // future is waited for as it closes, then 30 s more.
  std::chrono::steady_clock::time_point Deadline() const;
};

// --base, --room, --from and --to (all required) and a private room's edge
// token (EdgeTokenFlags), as replay and verify take them: registered on
// `flags` at construction, read after it parsed.
class RangeFlags {
 public:
  explicit RangeFlags(base::FlagSet& flags);
  // The times parsed against the clock now; kInvalidArgument says what is
  // wrong with them (or with the token's file).
  absl::StatusOr<RangeArgs> Resolve() const;

 private:
  RangeArgs args_;
  std::string from_, to_;
  std::unique_ptr<EdgeTokenFlags> edge_token_;  // registered after the others
};

// One object to read: bucket `index` at duration `d` (D, or R for a rollup).
struct Span {
  int64_t d = 0;
  int64_t index = 0;
};

// The objects covering [from_ms, to_ms) clipped to the room's life, in time
// order: rollups for every whole window inside when `use_rollups` and the
// room has R > D, buckets elsewhere.
std::vector<Span> Cover(const v1::Manifest& m, int64_t from_ms, int64_t to_ms,
                        bool use_rollups);

// A fetched segment with what verify checks.
struct FetchedSegment {
  std::string path;
  http::ClientReply raw;
  v1::ActionSegment segment;
};

// Fetches one object, waiting for it to close if it has not yet (up to
// `deadline`). kDataLoss if the bytes are not an ActionSegment.
absl::StatusOr<FetchedSegment> FetchSpan(const std::string& base,
                                         const client::RoomAccess& room, const Span& s,
                                         std::chrono::steady_clock::time_point deadline);

}  // namespace roomcast::cli

#endif  // ROOMCAST_TOOLS_CLI_HISTORY_H_
