
#include "segmenter/codec.h"

#include <climits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/live.h"

namespace roomcast::segmenter {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// An action segment serialized the way it was before the streamed layout
// (field-number order, messages between last_seq and dropped).
bool IsFieldOrderSegment(absl::string_view bytes) {
  v1::ActionSegment seg;
  return bytes.size() <= INT_MAX &&
         seg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
         SerializeFieldOrder(seg) == bytes;
}

namespace util = google::protobuf::util;

// The generated pool's types, each resolved once: protobuf's own resolver
// converts the descriptors again on every call, and every JSON print or
// parse asks it for each type the message uses, so for a short message
// that set-up costs more than the printing. Only types that resolve are
// kept: a bounded set, the pool's own.
class CachedTypeResolver final : public util::TypeResolver {
 public:
  CachedTypeResolver()
      : inner_(util::NewTypeResolverForDescriptorPool(
            kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool())) {}

  util::Status ResolveMessageType(const std::string& url, google::protobuf::Type* out) override {
    return Resolve(url, out, types_, &util::TypeResolver::ResolveMessageType);
  }
  util::Status ResolveEnumType(const std::string& url, google::protobuf::Enum* out) override {
    return Resolve(url, out, enums_, &util::TypeResolver::ResolveEnumType);
  }

 private:
  template <typename T>
  using Cache = absl::flat_hash_map<std::string, std::unique_ptr<const T>>;

  template <typename T>
  util::Status Resolve(const std::string& url, T* out, Cache<T>& cache,
                       util::Status (util::TypeResolver::*resolve)(const std::string&, T*)) {
    {
      absl::ReaderMutexLock l(&mu_);
      if (auto it = cache.find(url); it != cache.end()) {
        *out = *it->second;
        return util::Status();
      }
    }
    auto fresh = std::make_unique<T>();
    util::Status s = (inner_.get()->*resolve)(url, fresh.get());
    if (!s.ok()) return s;
    *out = *fresh;
    absl::MutexLock l(&mu_);
    cache.try_emplace(url, std::move(fresh));
    return s;
  }

  const std::unique_ptr<util::TypeResolver> inner_;
  absl::Mutex mu_;
  Cache<google::protobuf::Type> types_ ABSL_GUARDED_BY(mu_);
  Cache<google::protobuf::Enum> enums_ ABSL_GUARDED_BY(mu_);
};

// The resolver for `pool`: the cached one for the generated pool, else a
// new one kept in `own`.
util::TypeResolver* ResolverFor(const google::protobuf::DescriptorPool* pool,
                                std::unique_ptr<util::TypeResolver>* own) {
  static CachedTypeResolver* const generated = new CachedTypeResolver();
  if (pool == google::protobuf::DescriptorPool::generated_pool()) return generated;
  own->reset(util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, pool));
  return own->get();
}

}  // namespace

std::string SerializeFieldOrder(const google::protobuf::Message& m) {
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

std::string SerializeDeterministic(const google::protobuf::Message& m) {
  if (const auto* seg = dynamic_cast<const v1::ActionSegment*>(&m)) {
    return EncodeSegment(*seg);
  }
  if (m.GetDescriptor() == v1::ActionSegment::descriptor()) {
    // The same type as a DynamicMessage (no generated class to cast to).
    v1::ActionSegment seg;
    if (seg.ParseFromString(SerializeFieldOrder(m))) return EncodeSegment(seg);
  }
  return SerializeFieldOrder(m);
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
  // MessageToJsonString prints maps (drop counts, a Struct's fields) in the
  // order of a plain serialization, i.e. protobuf's per-process random
  // map order; printing from the deterministic bytes sorts them by key, so
  // a rendition is the same bytes every time it is made.
  return BytesToJson(*m.GetDescriptor(), SerializeFieldOrder(m));
}

absl::StatusOr<std::string> BytesToJson(const google::protobuf::Descriptor& type,
                                        absl::string_view bytes) {
  if (bytes.size() > INT_MAX) return absl::InvalidArgumentError("too large to print");
  std::unique_ptr<util::TypeResolver> own;
  util::TypeResolver* resolver = ResolverFor(type.file()->pool(), &own);
  util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  google::protobuf::io::ArrayInputStream in(bytes.data(), static_cast<int>(bytes.size()));
  util::Status st;
  {
    google::protobuf::io::StringOutputStream sink(&out);
    st = util::BinaryToJsonStream(
        resolver, absl::StrCat(kTypeUrlPrefix, "/", type.full_name()), &in, &sink, opts);
  }
  if (!st.ok()) return absl::InternalError(st.ToString());
  return out;
}

absl::Status FromJson(absl::string_view json, google::protobuf::Message* m,
                      const util::JsonParseOptions& options) {
  // What protobuf 3.21's JsonStringToMessage does, with another resolver.
  std::unique_ptr<util::TypeResolver> own;
  util::TypeResolver* resolver = ResolverFor(m->GetDescriptor()->file()->pool(), &own);
  std::string binary;
  util::Status s = util::JsonToBinaryString(
      resolver, absl::StrCat(kTypeUrlPrefix, "/", m->GetDescriptor()->full_name()),
      google::protobuf::StringPiece(json.data(), json.size()), &binary, options);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.code()), std::string(s.message()));
  }
  if (!m->ParseFromString(binary)) {
    return absl::InvalidArgumentError("JSON transcoder produced invalid protobuf output.");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderJson(ObjectClass cls, absl::string_view bytes) {
  if (cls == ObjectClass::kActions) {
    absl::StatusOr<std::string> json = RenderSegmentJson(bytes);
    if (json.ok() || !IsFieldOrderSegment(bytes)) return json;
    // Stored before the streamed layout: its rendition was (and stays, as
    // an immutable object's must) ToJson of the whole message.
  }
  auto m = Decode(cls, bytes);
  if (!m.ok()) return m.status();
  return ToJson(**m);
}

}  // namespace roomcast::segmenter
