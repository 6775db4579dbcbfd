#include "publisher/internal/body.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/json_scan.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/json_util.h"
#include "publisher/internal/validation.h"
#include "segmenter/codec.h"

namespace roomcast::publisher::internal {
namespace {

// How deep a body may nest, checked before it is parsed: a message's data
// (max_json_depth levels) inside its message, inside a batch's list, inside
// the batch. A JSON level is three protobuf levels (Struct, map entry,
// Value).
size_t MaxJsonBodyDepth(const IngestLimits& l) { return l.max_json_depth + 3; }
int MaxProtoBodyDepth(const IngestLimits& l) {
  return static_cast<int>(3 * l.max_json_depth + 8);
}

// In JSON, {"messages": [...]} is a batch and any other object one message.
bool IsJsonBatch(absl::string_view body) {
  body = absl::StripLeadingAsciiWhitespace(body);
  if (!absl::ConsumePrefix(&body, "{")) return false;
  return absl::StartsWith(absl::StripLeadingAsciiWhitespace(body), "\"messages\"");
}

}  // namespace

absl::Status ParseBody(absl::string_view body, bool proto, const IngestLimits& limits,
                       google::protobuf::Message* m) {
  if (proto) {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                              static_cast<int>(body.size()));
    in.SetRecursionLimit(MaxProtoBodyDepth(limits));
    if (!m->ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
      return absl::InvalidArgumentError("bad protobuf body (or nested too deeply)");
    }
    if (HasUnknownFields(*m)) {
      return absl::InvalidArgumentError("the protobuf body has fields this publisher does not know");
    }
    return absl::OkStatus();
  }
  if (absl::StripAsciiWhitespace(body).empty()) return absl::OkStatus();
  if (base::JsonNestingDepth(body, MaxJsonBodyDepth(limits)) > MaxJsonBodyDepth(limits)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the JSON body nests more than ", MaxJsonBodyDepth(limits), " levels"));
  }
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  absl::Status s = segmenter::FromJson(body, m, o);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad JSON body: ", std::string(s.message())));
  }
  return absl::OkStatus();
}

absl::Status ParseMessages(absl::string_view body, bool proto, const IngestLimits& limits,
                           v1::PostMessagesRequest* batch, bool* single) {
  *single = !proto && !IsJsonBatch(body);
  return *single ? ParseBody(body, proto, limits, batch->add_messages())
                 : ParseBody(body, proto, limits, batch);
}

}  // namespace roomcast::publisher::internal
