// A progressive reader of an action segment's .pb body (DESIGN §10): fed
// the bytes as they arrive (a streamed open bucket, or any complete body),
// it hands over each record (top-level field 7, one v1::Message) as soon as
// its last byte is in, and keeps every other field as the summary. When the
// body ends, the records and the summary together are the ActionSegment
// that parsing the whole body would give.
//
// The streamed layout puts records first and the summary last
// (segmenter/live.h), but a record is taken wherever it stands, so a
// segment stored before that layout (summary fields 1-6 first) reads the
// same. Bounded: a field that says it is longer than the limit, or a body
// past it, is refused before it is buffered; tags and lengths are read with
// protobuf's CodedInputStream, each record parsed by protobuf.
//
//   SegmentStream stream;
//   for (each piece of the body) {
//     RETURN_IF_ERROR(stream.Feed(piece, [](const v1::Message& m) { Show(m); }));
//   }
//   absl::StatusOr<v1::ActionSegment> s = stream.Finish();  // the whole body
#ifndef ROOMCAST_CLIENT_INTERNAL_SEGMENT_STREAM_H_
#define ROOMCAST_CLIENT_INTERNAL_SEGMENT_STREAM_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::client::internal {

class SegmentStream {
 public:
  // As the HTTP layer's reply cap (http::ClientRequest).
  static constexpr size_t kDefaultMaxBytes = size_t{64} << 20;

  explicit SegmentStream(size_t max_bytes = kDefaultMaxBytes);

  // Takes the body's next bytes and calls `on_record` for each record they
  // complete, in order (the reference is valid until Finish). kInvalidArgument
  // for bytes that are not a segment, kResourceExhausted past the limit; an
  // error sticks (every later call returns it).
  absl::Status Feed(absl::string_view bytes,
                    const std::function<void(const v1::Message&)>& on_record);

  // The body ended: the whole segment, or kInvalidArgument if it ended
  // inside a field or its summary does not parse. Call once.
  absl::StatusOr<v1::ActionSegment> Finish();

  // Records handed over so far.
  int records() const { return messages_.size(); }
  // Bytes taken so far.
  size_t bytes() const { return total_; }

 private:
  enum class Step { kField, kNeedMore };
  absl::StatusOr<Step> NextField(
      const std::function<void(const v1::Message&)>& on_record);
  absl::Status Fail(absl::Status st);

  const size_t max_bytes_;
  std::string buf_;  // bytes not yet consumed start at pos_
  size_t pos_ = 0;
  size_t total_ = 0;
  std::string summary_;  // every non-record field, as received
  google::protobuf::RepeatedPtrField<v1::Message> messages_;
  absl::Status error_;
};

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_SEGMENT_STREAM_H_
