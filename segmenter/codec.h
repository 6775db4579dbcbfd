// Bytes of the wire contract: deterministic encoding, content digests, and the
// JSON rendition.
//
// Every immutable object must come out byte-identical when re-published after
// a crash, so everything is serialized deterministically (map entries sorted).
// The digest (base::Sha256Hex of the .pb bytes) is the object's strong ETag.
//
//   EncodedObject seg = Encode(segment);
//   // seg.bytes goes to the origin; seg.digest is the ETag it will serve.
#ifndef ROOMCAST_SEGMENTER_CODEC_H_
#define ROOMCAST_SEGMENTER_CODEC_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "segmenter/naming.h"

namespace roomcast::segmenter {

struct EncodedObject {
  std::string bytes;
  std::string digest;  // lowercase hex SHA-256 of bytes
};

// Deterministic protobuf serialization. An ActionSegment comes out in the
// streamed layout (records first, summary last: live.h's EncodeSegment), so
// every caller writes what the origin streams.
std::string SerializeDeterministic(const google::protobuf::Message& m);
EncodedObject Encode(const google::protobuf::Message& m);
// Deterministic serialization in field-number order, whatever the type:
// the building block of SerializeDeterministic and of live.h's layout.
std::string SerializeFieldOrder(const google::protobuf::Message& m);

// A new empty message of the protobuf type stored for an object class
// (ActionSegment, StateComponent, ...); nullptr for classes with no body.
std::unique_ptr<google::protobuf::Message> NewMessageFor(ObjectClass cls);

// Parses bytes as the type of `cls`; kInvalidArgument if they do not parse.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Decode(
    ObjectClass cls, absl::string_view bytes);

// protobuf's JSON mapping with the proto field names (ts_ms, not tsMs).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m);
// The same printer on bytes of `type` (ToJson prints SerializeFieldOrder's):
// for callers that already hold such bytes, or join several into one call.
absl::StatusOr<std::string> BytesToJson(const google::protobuf::Descriptor& type,
                                        absl::string_view bytes);
// protobuf's JsonStringToMessage on the same cached type resolution as
// ToJson's; the same answers, errors included.
absl::Status FromJson(absl::string_view json, google::protobuf::Message* m,
                      const google::protobuf::util::JsonParseOptions& options);
// Decode + ToJson: the origin's .json rendition of stored bytes. For
// kActions it is RenderSegmentJson (one record a line, live.h); bytes of an
// action segment stored before that layout keep the rendition they had.
absl::StatusOr<std::string> RenderJson(ObjectClass cls, absl::string_view bytes);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_CODEC_H_
