#include "publisher/internal/validation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::publisher::internal {
namespace {

constexpr uint32_t kMaxRetentionS = 30 * 86400;
constexpr uint32_t kMaxCount = 1000000;

absl::Status TooLarge(absl::string_view what, size_t size, size_t limit) {
  return absl::OutOfRangeError(
      absl::StrCat(what, " is ", size, " bytes, more than ", limit));
}

using google::protobuf::Value;

absl::Status BadValue(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad JSON value: ", why));
}

// `depth` counts the objects and arrays around v, v's own included.
absl::Status CheckValueAt(const Value& v, size_t depth, size_t max_depth) {
  switch (v.kind_case()) {
    case Value::kNullValue:
    case Value::kBoolValue:
      return absl::OkStatus();
    case Value::kNumberValue:
      if (!std::isfinite(v.number_value())) return BadValue("numbers must be finite");
      return absl::OkStatus();
    case Value::kStringValue:
      if (!IsValidUtf8(v.string_value())) return BadValue("strings must be UTF-8");
      return absl::OkStatus();
    case Value::kStructValue:
    case Value::kListValue:
      if (depth + 1 > max_depth) {
        return BadValue(absl::StrCat("nested more than ", max_depth, " levels"));
      }
      if (v.kind_case() == Value::kListValue) {
        for (const Value& e : v.list_value().values()) {
          ROOMCAST_RETURN_IF_ERROR(CheckValueAt(e, depth + 1, max_depth));
        }
        return absl::OkStatus();
      }
      for (const auto& [k, f] : v.struct_value().fields()) {
        if (!IsValidUtf8(k)) return BadValue("keys must be UTF-8");
        ROOMCAST_RETURN_IF_ERROR(CheckValueAt(f, depth + 1, max_depth));
      }
      return absl::OkStatus();
    default:
      return BadValue("a value must be set");
  }
}

absl::Status BuildCustom(const v1::MessageInput& in, absl::string_view name,
                         const IngestLimits& limits, v1::Message* out) {
  if (!segmenter::IsValidId(name)) {
    return absl::InvalidArgumentError(
        "custom type must be custom:NAME with NAME [A-Za-z0-9_-]{1,64}");
  }
  Value v;
  *v.mutable_struct_value() = in.data();
  ROOMCAST_RETURN_IF_ERROR(CheckJsonValue(v, limits.max_json_depth));
  const size_t size = in.data().ByteSizeLong();
  if (size > limits.max_custom_bytes) {
    return TooLarge("custom data", size, limits.max_custom_bytes);
  }
  out->mutable_custom()->set_name(std::string(name));
  *out->mutable_custom()->mutable_data() = in.data();
  return absl::OkStatus();
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t j = 1; j < len; ++j) {
      const unsigned char cc = static_cast<unsigned char>(s[i + j]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::Status BuildBody(const v1::MessageInput& in, const IngestLimits& limits,
                       v1::Message* out) {
  if (in.client_msg_id().size() > limits.max_client_msg_id ||
      !IsValidUtf8(in.client_msg_id())) {
    return absl::InvalidArgumentError("client_msg_id too long or not UTF-8");
  }
  if (in.count() > kMaxCount) {
    return absl::InvalidArgumentError(absl::StrCat("count over ", kMaxCount));
  }
  const std::string& type = in.type();
  if (type == "comment") {
    if (in.text().empty()) return absl::InvalidArgumentError("empty comment");
    if (in.text().size() > limits.max_text_bytes) {
      return TooLarge("text", in.text().size(), limits.max_text_bytes);
    }
    if (!IsValidUtf8(in.text())) {
      return absl::InvalidArgumentError("text is not valid UTF-8");
    }
    out->mutable_comment()->set_text(in.text());
  } else if (type == "gift") {
    if (!segmenter::IsValidId(in.gift_id())) {
      return absl::InvalidArgumentError("gift_id must be [A-Za-z0-9_-]{1,64}");
    }
    out->mutable_gift()->set_gift_id(in.gift_id());
    out->mutable_gift()->set_count(in.count());
  } else if (type == "like") {
    out->mutable_like()->set_count(in.count());
  } else if (type == "enter") {
    out->mutable_enter();
  } else if (absl::StartsWith(type, "custom:")) {
    return BuildCustom(in, absl::string_view(type).substr(7), limits, out);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown type '", type.substr(0, 64),
        "' (comment, gift, like, enter or custom:NAME)"));
  }
  return absl::OkStatus();
}

absl::Status CheckStateValue(const google::protobuf::Value& v,
                             const IngestLimits& limits) {
  if (v.kind_case() == google::protobuf::Value::KIND_NOT_SET) {
    return absl::InvalidArgumentError("a state value is any JSON value");
  }
  const size_t size = v.ByteSizeLong();
  if (size > limits.max_state_bytes) {
    return TooLarge("state value", size, limits.max_state_bytes);
  }
  return CheckJsonValue(v, limits.max_json_depth);
}

absl::Status CheckJsonValue(const Value& v, size_t max_depth) {
  return CheckValueAt(v, 0, max_depth);
}

bool HasUnknownFields(const google::protobuf::Message& m) {
  const google::protobuf::Reflection* r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty()) return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (HasUnknownFields(r->GetRepeatedMessage(m, f, i))) return true;
      }
    } else if (HasUnknownFields(r->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<v1::RoomConfig> ConfigFromRequest(const v1::OpenRoomRequest& r,
                                                 int64_t rollup_ms) {
  v1::RoomConfig c;
  c.set_bucket_ms(r.has_bucket_ms() ? r.bucket_ms() : 1000);
  ROOMCAST_RETURN_IF_ERROR(segmenter::ValidateBucketMs(c.bucket_ms()));
  const int64_t d = c.bucket_ms();
  const int64_t r_ms = std::max<int64_t>(1, (rollup_ms + d / 2) / d) * d;
  ROOMCAST_RETURN_IF_ERROR(segmenter::ValidateRollupMs(d, r_ms));
  c.set_rollup_ms(static_cast<uint32_t>(r_ms));
  c.set_private_(r.has_private_() && r.private_());
  c.set_retention_s(r.has_retention_s() ? r.retention_s() : 86400);
  if (c.retention_s() == 0 || c.retention_s() > kMaxRetentionS) {
    return absl::InvalidArgumentError(
        absl::StrCat("retention_s must be 1..", kMaxRetentionS));
  }
  c.set_action_cap_per_s(r.has_action_cap_per_s() ? r.action_cap_per_s() : 500);
  if (c.action_cap_per_s() > 1000000) {
    return absl::InvalidArgumentError("action_cap_per_s must be 0..1000000");
  }
  return c;
}

}  // namespace roomcast::publisher::internal
