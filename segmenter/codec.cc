
#include "segmenter/codec.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"

namespace roomcast::segmenter {

std::string SerializeDeterministic(const google::protobuf::Message& m) {
  std::string out;
  out.reserve(m.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    m.SerializeWithCachedSizes(&coded);
  }
  return out;
}

EncodedObject Encode(const google::protobuf::Message& m) {
  EncodedObject o;
  o.bytes = SerializeDeterministic(m);
  o.digest = base::Sha256Hex(o.bytes);
  return o;
}

std::unique_ptr<google::protobuf::Message> NewMessageFor(ObjectClass cls) {
  switch (cls) {
    case ObjectClass::kManifest:
      return std::make_unique<v1::Manifest>();
    case ObjectClass::kActions:
      return std::make_unique<v1::ActionSegment>();
    case ObjectClass::kState:
      return std::make_unique<v1::StateComponent>();
    case ObjectClass::kSnapshot:
      return std::make_unique<v1::StateSnapshot>();
    case ObjectClass::kPeer:
      return std::make_unique<v1::PeerBatch>();
    case ObjectClass::kPeerKey:
      return std::make_unique<v1::HintKey>();
    case ObjectClass::kWatermark:
      return std::make_unique<v1::Watermark>();
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Decode(
    ObjectClass cls, absl::string_view bytes) {
  auto m = NewMessageFor(cls);
  if (m == nullptr || !m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid ", m ? m->GetTypeName() : "object"));
  }
  return m;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(m, &out, opts);
  if (!st.ok()) return absl::InternalError(st.ToString());
  return out;
}

absl::StatusOr<std::string> RenderJson(ObjectClass cls, absl::string_view bytes) {
  auto m = Decode(cls, bytes);
  if (!m.ok()) return m.status();
  return ToJson(**m);
}

}  // namespace roomcast::segmenter
