// Validation of what clients send (DESIGN §6): message inputs become message
// bodies, room-open requests become room configs. Pure functions; every
// problem is a status a handler maps straight to an HTTP answer:
// kInvalidArgument -> 400, kOutOfRange (too large) -> 413.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_VALIDATION_H_
#define ROOMCAST_PUBLISHER_INTERNAL_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "publisher/options.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/message.pb.h"

namespace roomcast::publisher::internal {

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// past U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// Checks `in` and sets the body of `out` from it (type, fields, priority
// stays the caller's).
absl::Status BuildBody(const v1::MessageInput& in, const IngestLimits& limits,
                       v1::Message* out);

// Checks a state value's size, its nesting, its numbers and its strings.
absl::Status CheckStateValue(const google::protobuf::Value& v,
                             const IngestLimits& limits);

// A JSON value the publisher can log, publish and render in both
// renditions: at most `max_depth` levels of objects and arrays, finite
// numbers only (JSON has no NaN or Infinity), UTF-8 strings and keys, and
// every value set. kInvalidArgument says which rule it breaks.
absl::Status CheckJsonValue(const google::protobuf::Value& v, size_t max_depth);

// True if `m`, or any message inside it, carries fields this build does
// not know (a protobuf body with them is refused: they would be published
// verbatim to every viewer).
bool HasUnknownFields(const google::protobuf::Message& m);

// The room config an open request asks for, defaults filled in:
// bucket_ms 1000 (100 .. 60000), retention_s 86400, action_cap_per_s 500,
// rollup_ms the multiple of bucket_ms nearest `rollup_ms` (at least one).
absl::StatusOr<v1::RoomConfig> ConfigFromRequest(const v1::OpenRoomRequest& r,
                                                 int64_t rollup_ms);

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_VALIDATION_H_
