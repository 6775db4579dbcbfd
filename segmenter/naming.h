// The one naming module: every URL path of DESIGN §4 and every storage key is
// made and parsed here, by the publisher, the origin and the client alike.
//
// Every builder has a matching parser, and ParsePath(ObjectPath(ref)) == ref.
// A private room's paths start /v1/private/ instead of /v1/rooms/.
// Parsing is strict: ids are [A-Za-z0-9_-]{1,64}, numbers are canonical
// decimal (no sign, no leading zero), so no two URLs name one object and no
// path can escape its room.
//
//   std::string p = SegmentPath("lobby", 1000, 1764290000);
//   // "/v1/rooms/lobby/actions/1000/1764290000.pb"
//   absl::StatusOr<ObjectRef> ref = ParsePath(p);
#ifndef ROOMCAST_SEGMENTER_NAMING_H_
#define ROOMCAST_SEGMENTER_NAMING_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include "base/ids.h"

#include "absl/status/statusor.h"

namespace roomcast::segmenter {

// What a path names.
enum class ObjectClass {
  kManifest,   // /v1/rooms/{room}/manifest.pb
  kActions,    // /v1/rooms/{room}/actions/{D}/{k}.pb
  kState,      // /v1/rooms/{room}/state/{component}/{v}.pb
  kSnapshot,   // /v1/rooms/{room}/snapshot/{V}.pb
  kPeer,       // /v1/rooms/{room}/peer/{user}/{D}/{k}.pb
  kPeerKey,    // /v1/rooms/{room}/peer/{user}/key (publisher only)
  kWatermark,  // /v1/publishers/{publisher}/watermark
};

// The rendition of an object: the stored protobuf or its JSON mapping.
enum class Format { kProto, kJson };

// Where a room's objects live (DESIGN §12): a public room under
// /v1/rooms/{room}/, a private one under /v1/private/{room}/ (same layout),
// so an edge knows from the path alone that a token is needed. The two have
// separate storage keys too: a public path can never reach a private
// room's bytes.
enum class Scope { kPublic, kPrivate };

// A parsed path. Fields that a class does not use stay empty / zero.
struct ObjectRef {
  ObjectClass cls = ObjectClass::kManifest;
  std::string room;       // all classes but kWatermark
  std::string name;       // component (kState), user (kPeer, kPeerKey),
                          // publisher (kWatermark)
  int64_t bucket_ms = 0;  // D, for kActions and kPeer
  int64_t number = 0;     // k (kActions, kPeer) or version (kState, kSnapshot)
  Format format = Format::kProto;
  Scope scope = Scope::kPublic;  // room classes only

  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;
};

inline constexpr int64_t kMinBucketMs = 100;
inline constexpr int64_t kMaxBucketMs = 60000;
// Rollups use the same template with D = R; R may be up to an hour.
inline constexpr int64_t kMaxRollupMs = 3600000;

// Ids (rooms, users, components, publishers) follow base/ids.h.
using base::IsValidId;

std::string ManifestPath(absl::string_view room, Format f = Format::kProto,
                         Scope s = Scope::kPublic);
std::string SegmentPath(absl::string_view room, int64_t bucket_ms, int64_t k,
                        Format f = Format::kProto, Scope s = Scope::kPublic);
std::string StatePath(absl::string_view room, absl::string_view component,
                      int64_t version, Format f = Format::kProto,
                      Scope s = Scope::kPublic);
std::string SnapshotPath(absl::string_view room, int64_t total_version,
                         Format f = Format::kProto, Scope s = Scope::kPublic);
std::string PeerPath(absl::string_view room, absl::string_view user,
                     int64_t bucket_ms, int64_t k, Format f = Format::kProto,
                     Scope s = Scope::kPublic);
std::string PeerKeyPath(absl::string_view room, absl::string_view user);
std::string WatermarkPath(absl::string_view publisher);
// The path of any ref; the builders above are shorthands for it.
std::string ObjectPath(const ObjectRef& ref);

// Parses a request path (without query string). kInvalidArgument names what
// is wrong; kNotFound means the path is well-formed but no object class.
absl::StatusOr<ObjectRef> ParsePath(absl::string_view path);

// The key an object is stored under, the same for both renditions. Keys of a
// room share the prefix RoomKeyPrefix(room), and numbers are zero-padded so
// that keys sort by room, class, then number.
std::string StorageKey(const ObjectRef& ref);
std::string RoomKeyPrefix(absl::string_view room, Scope s = Scope::kPublic);
absl::StatusOr<ObjectRef> ParseStorageKey(absl::string_view key);

// The content type of a rendition.
absl::string_view ContentType(Format f);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_NAMING_H_
