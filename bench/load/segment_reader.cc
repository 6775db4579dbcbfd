#include "bench/load/segment_reader.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace roomcast::bench {
namespace {

using google::protobuf::internal::WireFormatLite;
constexpr int kRecordField = 7;      // ActionSegment.messages
constexpr size_t kMaxVarintBytes = 10;

}  // namespace

absl::Status SegmentReader::Feed(absl::string_view bytes, const OnRecord& on_record) {
  if (bytes.size() > max_bytes_ - total_) {
    return absl::ResourceExhaustedError(absl::StrCat("segment over ", max_bytes_, " bytes"));
  }
  total_ += bytes.size();
  buf_.append(bytes.data(), bytes.size());
  for (;;) {
    absl::StatusOr<bool> took = Next(on_record);
    if (!took.ok()) return took.status();
    if (!*took) break;
  }
  buf_.erase(0, pos_);
  pos_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<bool> SegmentReader::Next(const OnRecord& on_record) {
  const absl::string_view rest = absl::string_view(buf_).substr(pos_);
  if (rest.empty()) return false;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                                            static_cast<int>(rest.size()));
  // A varint that does not read may only be cut short.
  const auto short_or_bad = [&]() -> absl::StatusOr<bool> {
    if (rest.size() < kMaxVarintBytes * 2) return false;
    return absl::InvalidArgumentError(absl::StrCat("segment: bad field at byte ", total_ - rest.size()));
  };
  const uint32_t tag = in.ReadTagNoLastTag();
  if (tag == 0) return short_or_bad();
  const int field = WireFormatLite::GetTagFieldNumber(tag);
  uint64_t len = 0;
  switch (WireFormatLite::GetTagWireType(tag)) {
    case WireFormatLite::WIRETYPE_VARINT:
      if (!in.ReadVarint64(&len)) return short_or_bad();
      len = 0;
      break;
    case WireFormatLite::WIRETYPE_FIXED64:
      len = 8;
      break;
    case WireFormatLite::WIRETYPE_FIXED32:
      len = 4;
      break;
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
      if (!in.ReadVarint64(&len)) return short_or_bad();
      if (len > max_bytes_) return absl::ResourceExhaustedError("segment: field too long");
      break;
    default:
      return absl::InvalidArgumentError("segment: a group or an unknown wire type");
  }
  const size_t at = static_cast<size_t>(in.CurrentPosition());
  if (rest.size() - at < len) return false;
  if (field == kRecordField) {
    v1::Message m;
    if (!m.ParseFromArray(rest.data() + at, static_cast<int>(len))) {
      return absl::InvalidArgumentError(absl::StrCat("segment: record ", records_, " does not parse"));
    }
    ++records_;
    on_record(m);
  } else {
    summary_.append(rest.data(), at + len);
  }
  pos_ += at + len;
  return true;
}

absl::StatusOr<v1::ActionSegment> SegmentReader::Finish() const {
  if (pos_ != buf_.size()) return absl::InvalidArgumentError("segment: ended inside a field");
  v1::ActionSegment s;
  if (!s.ParseFromString(summary_)) {
    return absl::InvalidArgumentError("segment: the summary does not parse");
  }
  return s;
}

}  // namespace roomcast::bench
