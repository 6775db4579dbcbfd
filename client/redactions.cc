#include "client/redactions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/fetch.h"
#include "roomcast/v1/state.pb.h"

namespace roomcast::client {

absl::StatusOr<std::set<uint64_t>> RedactedSeqs(const google::protobuf::Value& value) {
  const auto& fields = value.struct_value().fields();
  auto it = fields.find("seqs");
  if (it == fields.end() || !it->second.has_list_value()) {
    return absl::DataLossError("redactions: no \"seqs\" list");
  }
  std::set<uint64_t> out;
  const auto& values = it->second.list_value().values();
  const int n = std::min(values.size(), kMaxRedactedSeqs);
  for (int i = 0; i < n; ++i) {
    const double seq = values[i].number_value();
    // Integers a double holds exactly; anything else is not a seq.
    constexpr double kMaxExact = 9007199254740992.0;  // 2^53
    if (!(seq >= 1 && seq < kMaxExact) ||
        seq != static_cast<double>(static_cast<uint64_t>(seq))) {
      return absl::DataLossError(absl::StrCat("redactions: seqs[", i, "] is not a seq"));
    }
    out.insert(static_cast<uint64_t>(seq));
  }
  return out;
}

absl::StatusOr<std::set<uint64_t>> FetchRedactions(
    const std::string& base_url, const RoomAccess& room, const v1::Manifest& m,
    std::chrono::steady_clock::time_point deadline) {
  uint64_t version = 0;
  for (const v1::ComponentVersion& c : m.components()) {
    if (c.name() == kRedactionsComponent) version = c.version();
  }
  if (version == 0) return std::set<uint64_t>();
  const std::string url =
      base_url + room.StatePath(kRedactionsComponent, static_cast<int64_t>(version));
  absl::StatusOr<http::ClientReply> r = FetchClosed(url, deadline, room.Headers());
  if (!r.ok()) return r.status();
  v1::StateComponent c;
  if (!c.ParseFromString(r->body) || c.name() != kRedactionsComponent) {
    return absl::DataLossError(absl::StrCat(url, ": not a redactions component"));
  }
  return RedactedSeqs(c.value());
}

}  // namespace roomcast::client
