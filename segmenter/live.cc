#include "segmenter/live.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "segmenter/codec.h"

namespace roomcast::segmenter {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr int kMessagesField = v1::ActionSegment::kMessagesFieldNumber;
constexpr uint32_t kRecordTag = WireFormatLite::MakeTag(
    kMessagesField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);  // 0x3a

// Tag, length, message; the message's size must be cached (ByteSizeLong).
void WriteRecord(const v1::Message& m,
                 google::protobuf::io::CodedOutputStream& coded) {
  coded.WriteTag(kRecordTag);
  coded.WriteVarint32(static_cast<uint32_t>(m.GetCachedSize()));
  m.SerializeWithCachedSizes(&coded);
}

absl::Status NotInLayout(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("not an action segment in the streamed layout: ", why));
}

// The message a record span holds: one whole field 7, nothing after it.
absl::StatusOr<v1::Message> ParseRecord(absl::string_view record) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(record.data()),
      static_cast<int>(std::min<size_t>(record.size(), INT_MAX)));
  uint32_t length = 0;
  if (record.size() > INT_MAX || in.ReadTag() != kRecordTag ||
      !in.ReadVarint32(&length) ||
      static_cast<size_t>(in.CurrentPosition()) + length != record.size()) {
    return NotInLayout("a record is not one whole field 7");
  }
  v1::Message m;
  if (!m.ParseFromArray(record.data() + in.CurrentPosition(),
                        static_cast<int>(length))) {
    return NotInLayout("a record does not parse as a Message");
  }
  return m;
}

// Reads the field at `in`'s position; a record (field 7) is stored as a
// span, anything else moves `*summary_from` unless already set.
absl::Status SplitField(google::protobuf::io::CodedInputStream& in,
                        absl::string_view pb, SegmentParts& parts,
                        int& summary_from) {
  const int begin = in.CurrentPosition();
  const uint32_t tag = in.ReadTag();
  if (tag == 0) return NotInLayout("bad tag");
  if (WireFormatLite::GetTagFieldNumber(tag) != kMessagesField) {
    if (summary_from < 0) summary_from = begin;
    if (!WireFormatLite::SkipField(&in, tag))
      return NotInLayout("truncated field");
    return absl::OkStatus();
  }
  if (tag != kRecordTag) return NotInLayout("field 7 of the wrong wire type");
  if (summary_from >= 0) return NotInLayout("a record after the summary");
  uint32_t length = 0;
  if (!in.ReadVarint32(&length) ||
      !in.Skip(static_cast<int>(std::min<uint32_t>(length, INT_MAX)))) {
    return NotInLayout("truncated record");
  }
  parts.records.push_back(pb.substr(begin, in.CurrentPosition() - begin));
  return absl::OkStatus();
}

}  // namespace

std::string EncodeRecord(const v1::Message& m) {
  std::string out;
  const size_t size = m.ByteSizeLong();  // also caches the sizes written below
  out.reserve(size + 6);
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    WriteRecord(m, coded);
  }
  return out;
}

std::string EncodeSummary(const v1::ActionSegment& s) {
  // Field by field rather than copy-and-clear, which would copy every
  // message. live_test checks that every field of ActionSegment but
  // `messages` survives, so a new field cannot be forgotten here.
  v1::ActionSegment summary;
  summary.set_room(s.room());
  summary.set_epoch(s.epoch());
  summary.set_bucket_ms(s.bucket_ms());
  summary.set_index(s.index());
  summary.set_first_seq(s.first_seq());
  summary.set_last_seq(s.last_seq());
  *summary.mutable_dropped() = s.dropped();
  if (s.has_peer_hint()) *summary.mutable_peer_hint() = s.peer_hint();
  if (s.has_last_bucket()) summary.set_last_bucket(s.last_bucket());
  *summary.mutable_retracted() = s.retracted();
  return SerializeFieldOrder(summary);
}

std::string EncodeSegment(const v1::ActionSegment& s) {
  std::string out;
  out.reserve(s.ByteSizeLong());  // also caches every message's size
  {
    // One stream for all records: no string per record.
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    for (const v1::Message& m : s.messages()) WriteRecord(m, coded);
  }
  out += EncodeSummary(s);
  return out;
}

absl::StatusOr<SegmentParts> SplitSegment(absl::string_view pb) {
  if (pb.size() > INT_MAX) return NotInLayout("too large");
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(pb.data()), static_cast<int>(pb.size()));
  SegmentParts parts;
  int summary_from = -1;
  while (static_cast<size_t>(in.CurrentPosition()) < pb.size()) {
    ROOMCAST_RETURN_IF_ERROR(SplitField(in, pb, parts, summary_from));
  }
  parts.summary =
      summary_from < 0 ? pb.substr(pb.size()) : pb.substr(summary_from);
  v1::ActionSegment whole;
  if (!whole.ParseFromArray(pb.data(), static_cast<int>(pb.size()))) {
    return NotInLayout("does not parse as an ActionSegment");
  }
  return parts;
}

absl::string_view JsonHead() { return "{\"messages\":[\n"; }

absl::StatusOr<std::string> JsonRecord(const v1::Message& m, bool first) {
  // protobuf's JSON printer escapes control characters in strings, so the
  // record is one line, ended as soon as the record is written (a reader
  // splitting on newlines has each record the moment it arrives).
  ROOMCAST_ASSIGN_OR_RETURN(std::string json, ToJson(m));
  return absl::StrCat(first ? "" : ",", json, "\n");
}

absl::StatusOr<std::string> JsonRecordFromBytes(absl::string_view record,
                                                bool first) {
  ROOMCAST_ASSIGN_OR_RETURN(v1::Message m, ParseRecord(record));
  return JsonRecord(m, first);
}

bool SplitJsonMessages(absl::string_view json, std::vector<absl::string_view>* out) {
  constexpr absl::string_view kOpen = "{\"messages\":[";
  if (!absl::ConsumePrefix(&json, kOpen) || !absl::ConsumeSuffix(&json, "]}")) return false;
  int depth = 0;
  bool in_string = false;
  size_t begin = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{': case '[': ++depth; break;
      case '}': case ']':
        if (--depth < 0) return false;
        break;
      case ',':
        if (depth == 0) {
          out->push_back(json.substr(begin, i - begin));
          begin = i + 1;
        }
        break;
      default: break;
    }
  }
  if (depth != 0 || in_string || begin >= json.size()) return false;
  out->push_back(json.substr(begin));
  return true;
}

absl::StatusOr<std::vector<std::string>> JsonRecordLines(
    const std::vector<absl::string_view>& records, size_t first_index) {
  std::vector<std::string> lines;
  lines.reserve(records.size());
  if (records.empty()) return lines;
  // Each record as ToJson would print it (its field-order bytes), all in
  // one ActionSegment: the printer's set-up per call (resolving every type
  // the message uses) costs more than printing a short record.
  std::string joint;
  bool parsed = true;
  {
    google::protobuf::io::StringOutputStream raw(&joint);
    google::protobuf::io::CodedOutputStream coded(&raw);
    for (absl::string_view r : records) {
      absl::StatusOr<v1::Message> m = ParseRecord(r);
      if (!m.ok()) {
        parsed = false;  // one by one finds the first record with no line
        break;
      }
      const std::string bytes = SerializeFieldOrder(*m);
      coded.WriteTag(kRecordTag);
      coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
      coded.WriteString(bytes);
    }
  }
  if (parsed) {
    absl::StatusOr<std::string> json = BytesToJson(*v1::ActionSegment::descriptor(), joint);
    std::vector<absl::string_view> each;
    if (json.ok() && SplitJsonMessages(*json, &each) && each.size() == records.size()) {
      for (size_t i = 0; i < each.size(); ++i) {
        lines.push_back(absl::StrCat(first_index + i == 0 ? "" : ",", each[i], "\n"));
      }
      return lines;
    }
  }
  // One the joint print refuses (nesting one level too deep, say): one by
  // one, with each record's own answer.
  for (size_t i = 0; i < records.size(); ++i) {
    ROOMCAST_ASSIGN_OR_RETURN(std::string line,
                              JsonRecordFromBytes(records[i], first_index + i == 0));
    lines.push_back(std::move(line));
  }
  return lines;
}

absl::StatusOr<std::string> JsonTail(absl::string_view summary_pb) {
  v1::ActionSegment summary;
  if (summary_pb.size() > INT_MAX ||
      !summary.ParseFromArray(summary_pb.data(),
                              static_cast<int>(summary_pb.size())) ||
      summary.messages_size() != 0) {
    return NotInLayout("the summary does not parse, or holds a record");
  }
  ROOMCAST_ASSIGN_OR_RETURN(std::string json, ToJson(summary));
  // `{}` for a summary of defaults only; else `{"room":...}` loses its `{`.
  if (json.size() <= 2) return std::string("]}");
  return absl::StrCat("],", absl::string_view(json).substr(1));
}

absl::StatusOr<std::string> RenderSegmentJson(absl::string_view pb) {
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<std::string> chunks,
                            SegmentChunks(pb, Rendition::kJson));
  std::string out;
  for (const std::string& c : chunks) out += c;
  return out;
}

absl::StatusOr<std::vector<std::string>> SegmentChunks(absl::string_view pb,
                                                       Rendition r) {
  ROOMCAST_ASSIGN_OR_RETURN(SegmentParts parts, SplitSegment(pb));
  std::vector<std::string> chunks;
  chunks.reserve(parts.records.size() + 2);
  if (r == Rendition::kPb) {
    chunks.emplace_back();
    for (absl::string_view rec : parts.records) chunks.emplace_back(rec);
    chunks.emplace_back(parts.summary);
    return chunks;
  }
  chunks.emplace_back(JsonHead());
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<std::string> lines, JsonRecordLines(parts.records, 0));
  for (std::string& line : lines) chunks.push_back(std::move(line));
  ROOMCAST_ASSIGN_OR_RETURN(std::string tail, JsonTail(parts.summary));
  chunks.push_back(std::move(tail));
  return chunks;
}

struct ChunkGzip::State {
  z_stream z{};
  bool finished = false;

  // Deflates `in` with `flush` until zlib has nothing more to write.
  std::string Deflate(absl::string_view in, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::string out;
    char buf[16384];
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      // Z_BUF_ERROR (nothing to do: an empty chunk after a flush) is benign.
      deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
    return out;
  }
};

ChunkGzip::ChunkGzip() : state_(std::make_unique<State>()) {
  // Fails only when out of memory (the parameters are valid).
  if (deflateInit2(&state_->z, 6, Z_DEFLATED, 12 + 16, 5, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::bad_alloc();
  }
}

ChunkGzip::~ChunkGzip() { deflateEnd(&state_->z); }

std::string ChunkGzip::Add(absl::string_view chunk) {
  if (state_->finished) return "";
  return state_->Deflate(chunk, Z_SYNC_FLUSH);
}

std::string ChunkGzip::Finish(absl::string_view last) {
  if (state_->finished) return "";
  state_->finished = true;
  return state_->Deflate(last, Z_FINISH);
}

std::string GzipSegment(const std::vector<std::string>& chunks) {
  ChunkGzip gz;
  std::string out;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) out += gz.Add(chunks[i]);
  out += gz.Finish(chunks.empty() ? absl::string_view()
                                  : absl::string_view(chunks.back()));
  return out;
}

}  // namespace roomcast::segmenter
