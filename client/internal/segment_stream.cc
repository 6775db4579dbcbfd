#include "client/internal/segment_stream.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace roomcast::client::internal {
namespace {

using google::protobuf::internal::WireFormatLite;

// ActionSegment.messages: the records.
constexpr int kRecordField = 7;
// The longest varint protobuf reads (a tag, a length, a value).
constexpr size_t kMaxVarintBytes = 10;

}  // namespace

SegmentStream::SegmentStream(size_t max_bytes) : max_bytes_(max_bytes) {}

absl::Status SegmentStream::Fail(absl::Status st) {
  error_ = st;
  buf_.clear();
  pos_ = 0;
  return st;
}

absl::Status SegmentStream::Feed(absl::string_view bytes,
                                 const std::function<void(const v1::Message&)>& on_record) {
  if (!error_.ok()) return error_;
  if (bytes.size() > max_bytes_ - total_) {
    return Fail(absl::ResourceExhaustedError(
        absl::StrCat("segment: the body is over ", max_bytes_, " bytes")));
  }
  total_ += bytes.size();
  buf_.append(bytes.data(), bytes.size());
  for (;;) {
    absl::StatusOr<Step> step = NextField(on_record);
    if (!step.ok()) return Fail(step.status());
    if (*step == Step::kNeedMore) break;
  }
  // Drop what was consumed once it is most of the buffer: linear overall.
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return absl::OkStatus();
}

// Reads one whole top-level field from the buffered bytes, or says more are
// needed. A read that fails with fewer than a varint's worth of bytes left
// may just be cut short; with more, the bytes are not a segment.
absl::StatusOr<SegmentStream::Step> SegmentStream::NextField(
    const std::function<void(const v1::Message&)>& on_record) {
  const absl::string_view rest = absl::string_view(buf_).substr(pos_);
  if (rest.empty()) return Step::kNeedMore;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                                            static_cast<int>(rest.size()));
  auto short_or_bad = [&](absl::string_view what) -> absl::StatusOr<Step> {
    if (rest.size() - in.CurrentPosition() < kMaxVarintBytes) return Step::kNeedMore;
    return absl::InvalidArgumentError(absl::StrCat("segment: ", what, " at byte ", total_ - rest.size()));
  };
  const uint32_t tag = in.ReadTagNoLastTag();
  if (tag == 0) return short_or_bad("a bad tag");
  const int field = WireFormatLite::GetTagFieldNumber(tag);
  const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
  if (field == 0) return absl::InvalidArgumentError("segment: field number 0");
  if (field == kRecordField && type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
    return absl::InvalidArgumentError("segment: a record that is not length-delimited");
  }
  size_t payload_at = 0;
  uint64_t len = 0;
  switch (type) {
    case WireFormatLite::WIRETYPE_VARINT: {
      uint64_t value = 0;
      if (!in.ReadVarint64(&value)) return short_or_bad("a bad varint");
      break;
    }
    case WireFormatLite::WIRETYPE_FIXED64:
      if (!in.Skip(8)) return Step::kNeedMore;
      break;
    case WireFormatLite::WIRETYPE_FIXED32:
      if (!in.Skip(4)) return Step::kNeedMore;
      break;
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
      if (!in.ReadVarint64(&len)) return short_or_bad("a bad length");
      if (len > max_bytes_) {
        return absl::ResourceExhaustedError(
            absl::StrCat("segment: field ", field, " says ", len, " bytes, over ", max_bytes_));
      }
      payload_at = in.CurrentPosition();
      if (rest.size() - payload_at < len) return Step::kNeedMore;
      break;
    default:
      return absl::InvalidArgumentError("segment: a group or an unknown wire type");
  }
  const size_t end = type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED
                         ? payload_at + len
                         : static_cast<size_t>(in.CurrentPosition());
  if (field == kRecordField) {
    v1::Message* m = messages_.Add();
    if (!m->ParseFromArray(rest.data() + payload_at, static_cast<int>(len))) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment: record ", messages_.size(), " does not parse"));
    }
    pos_ += end;  // before the callback: it may Feed no more, but it may look
    on_record(*m);
    return Step::kField;
  }
  summary_.append(rest.data(), end);
  pos_ += end;
  return Step::kField;
}

absl::StatusOr<v1::ActionSegment> SegmentStream::Finish() {
  if (!error_.ok()) return error_;
  if (pos_ != buf_.size()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "segment: the body ended inside a field (", buf_.size() - pos_, " bytes left)")));
  }
  v1::ActionSegment s;
  if (!s.ParseFromString(summary_)) {
    return Fail(absl::InvalidArgumentError("segment: the summary does not parse"));
  }
  s.mutable_messages()->Swap(&messages_);
  return s;
}

}  // namespace roomcast::client::internal
