// The streamed layout of an action segment (DESIGN §10): records first, one
// complete top-level field each, in seq order; the summary (everything that
// is not a record) last. A reader decodes each record as it arrives, and
// the whole body still parses as the ActionSegment. The same layout is the
// stored object, so the bytes streamed equal the bytes stored.
//
//   .pb    EncodeRecord(m1) EncodeRecord(m2) ... EncodeSummary(seg)
//   .json  {"messages":[\n  {m1}\n  ,{m2}\n  ...  ],"room":...}
//          (JsonHead, JsonRecord per record, JsonTail: one record a line,
//          each line ended by the record's own chunk)
//   gzip   ChunkGzip over those chunks: the head, each record flushed
//          (Z_SYNC_FLUSH), the summary finishing the stream. Deterministic,
//          so re-publication after a crash gives the same bytes.
//
//   std::string pb = EncodeSegment(seg);
//   auto parts = SplitSegment(pb);           // records + summary spans
//   std::string gz = GzipSegment(SegmentChunks(*parts));
#ifndef ROOMCAST_SEGMENTER_LIVE_H_
#define ROOMCAST_SEGMENTER_LIVE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "roomcast/v1/message.pb.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::segmenter {

// One record: tag of ActionSegment.messages (field 7, length-delimited),
// varint length, the message serialized deterministically.
std::string EncodeRecord(const v1::Message& m);
// The segment without its messages, serialized deterministically (field
// order). Never holds field 7.
std::string EncodeSummary(const v1::ActionSegment& s);
// Every record, then the summary: the stored and streamed .pb.
std::string EncodeSegment(const v1::ActionSegment& s);

struct SegmentParts {
  std::vector<absl::string_view> records;  // each one whole field-7 span
  absl::string_view summary;
};
// Splits stored .pb bytes (views into `pb`). kInvalidArgument unless they
// are in the layout above: only field-7 spans, then only other fields, all
// complete, parsing as an ActionSegment.
absl::StatusOr<SegmentParts> SplitSegment(absl::string_view pb);

// JSON rendition pieces (protobuf's JSON mapping, proto field names).
// Exactly `{"messages":[` and a newline.
absl::string_view JsonHead();
// The record's JSON + "\n" (first record), "," + it + "\n" (the others).
absl::StatusOr<std::string> JsonRecord(const v1::Message& m, bool first);
// As JsonRecord, from one EncodeRecord span.
absl::StatusOr<std::string> JsonRecordFromBytes(absl::string_view record, bool first);
// The array elements of protobuf's printer output (no whitespace, strings
// escaped) for an ActionSegment of records only, each a view into `json`;
// false unless it is exactly `{"messages":[e1,e2,...]}` with at least one
// element. JsonRecordLines' splitter.
bool SplitJsonMessages(absl::string_view json, std::vector<absl::string_view>* out);
// JsonRecordFromBytes of each record, the first of them at position
// `first_index` of its segment, printed in one call where it can be: the
// same lines, an error for the first record that has none.
absl::StatusOr<std::vector<std::string>> JsonRecordLines(
    const std::vector<absl::string_view>& records, size_t first_index);
// "]" + "," + the summary's JSON fields + "}" (or "]}" if none).
absl::StatusOr<std::string> JsonTail(absl::string_view summary_pb);
// The whole .json rendition of stored .pb bytes.
absl::StatusOr<std::string> RenderSegmentJson(absl::string_view pb);

// The chunks a segment streams as, in order: the head ("" for .pb,
// JsonHead() for .json), one per record, the summary last.
enum class Rendition { kPb, kJson };
absl::StatusOr<std::vector<std::string>> SegmentChunks(absl::string_view pb,
                                                       Rendition r);

// gzip flushed after every chunk: deflateInit2(6, Z_DEFLATED, 12 + 16,
// memLevel 5, Z_DEFAULT_STRATEGY), about 32 KB a stream.
class ChunkGzip {
 public:
  ChunkGzip();
  ~ChunkGzip();
  ChunkGzip(const ChunkGzip&) = delete;
  ChunkGzip& operator=(const ChunkGzip&) = delete;
  // deflate(chunk, Z_SYNC_FLUSH): the bytes that chunk adds.
  std::string Add(absl::string_view chunk);
  // deflate(last, Z_FINISH): the stream's end; no Add after it.
  std::string Finish(absl::string_view last);

 private:
  struct State;
  std::unique_ptr<State> state_;
};
// Add(every chunk but the last), Finish(the last): the stored gzip.
std::string GzipSegment(const std::vector<std::string>& chunks);

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_LIVE_H_
