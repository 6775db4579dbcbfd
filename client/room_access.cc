#include "client/room_access.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace roomcast::client {

using segmenter::Format;

std::string EdgeTokenCookie(absl::string_view token) {
  // What a well-formed token is made of; everything else is escaped.
  constexpr absl::string_view kPlain = "-_.~=/*:";
  std::string out = "Cookie: rc_token=";
  for (char c : token) {
    if (absl::ascii_isalnum(c) || kPlain.find(c) != absl::string_view::npos) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

std::vector<std::string> RoomAccess::Headers() const {
  if (!is_private()) return {};
  return {EdgeTokenCookie(edge_token)};
}

std::string RoomAccess::ManifestPath(Format f) const {
  return segmenter::ManifestPath(room, f, scope());
}

std::string RoomAccess::SegmentPath(int64_t bucket_ms, int64_t k) const {
  return segmenter::SegmentPath(room, bucket_ms, k, Format::kProto, scope());
}

std::string RoomAccess::StatePath(absl::string_view component, int64_t version) const {
  return segmenter::StatePath(room, component, version, Format::kProto, scope());
}

std::string RoomAccess::SnapshotPath(int64_t total_version) const {
  return segmenter::SnapshotPath(room, total_version, Format::kProto, scope());
}

std::string RoomAccess::PeerPath(absl::string_view user, int64_t bucket_ms, int64_t k) const {
  return segmenter::PeerPath(room, user, bucket_ms, k, Format::kProto, scope());
}

}  // namespace roomcast::client
