// A progressive reader of an action segment's .pb body for the load
// generator (DESIGN §10, live_contract §F): fed the bytes as they arrive,
// it hands over each record (top-level field 7, one v1::Message) the moment
// its last byte is in; every other field is summary. At the end the
// summary parses as the ActionSegment (without its messages).
//
// The client's own reader (client/internal/segment_stream.h, branch
// wt-live-client) does the same for viewers; once it is on main the
// followers should use it and this file goes.
//
//   SegmentReader r;
//   RETURN_IF_ERROR(r.Feed(bytes, [&](const v1::Message& m) { ... }));
//   absl::StatusOr<v1::ActionSegment> summary = r.Finish();
//
// Bounded: a body or a field over `max_bytes` is refused before it is
// buffered; tags and lengths are read with protobuf's CodedInputStream.
#ifndef ROOMCAST_BENCH_LOAD_SEGMENT_READER_H_
#define ROOMCAST_BENCH_LOAD_SEGMENT_READER_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::bench {

class SegmentReader {
 public:
  using OnRecord = std::function<void(const v1::Message&)>;
  explicit SegmentReader(size_t max_bytes = size_t{64} << 20) : max_bytes_(max_bytes) {}

  // kInvalidArgument for bytes that are not a segment, kResourceExhausted
  // past the limit.
  absl::Status Feed(absl::string_view bytes, const OnRecord& on_record);
  // The body ended: its summary fields (messages empty), or kInvalidArgument
  // if it ended inside a field or the summary does not parse.
  absl::StatusOr<v1::ActionSegment> Finish() const;

  int records() const { return records_; }

 private:
  // One whole field from buf_[pos_..]: true if taken, false if more bytes
  // are needed.
  absl::StatusOr<bool> Next(const OnRecord& on_record);

  const size_t max_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  size_t total_ = 0;
  std::string summary_;
  int records_ = 0;
};

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_SEGMENT_READER_H_
