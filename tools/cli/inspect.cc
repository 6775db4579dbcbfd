// roomcast inspect FILE|URL: any roomcast object decoded to JSON. The type
// comes from the path (the naming module parses it), or from --type, or, for
// a file named otherwise, from which message the bytes are canonically.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "tools/cli/common.h"
#include "tools/cli/verbs.h"

namespace roomcast::cli {
namespace {

using segmenter::ObjectClass;
constexpr char kProgram[] = "roomcast inspect";

std::unique_ptr<google::protobuf::Message> ForType(absl::string_view type) {
  if (type == "manifest") return segmenter::NewMessageFor(ObjectClass::kManifest);
  if (type == "actions" || type == "segment") return segmenter::NewMessageFor(ObjectClass::kActions);
  if (type == "state") return segmenter::NewMessageFor(ObjectClass::kState);
  if (type == "snapshot") return segmenter::NewMessageFor(ObjectClass::kSnapshot);
  if (type == "peer") return segmenter::NewMessageFor(ObjectClass::kPeer);
  if (type == "watermark") return std::make_unique<v1::Watermark>();
  if (type == "hintkey") return std::make_unique<v1::HintKey>();
  return nullptr;
}

// The object class a path names, if it contains a roomcast path.
std::optional<ObjectClass> ClassOfPath(std::string path) {
  if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  size_t v1 = path.find("/v1/");
  if (v1 == std::string::npos) return std::nullopt;
  auto ref = segmenter::ParsePath(path.substr(v1));
  if (!ref.ok()) return std::nullopt;
  return ref->cls;
}

// The first type the bytes parse as with no unknown field and re-serialize
// to exactly (our objects are deterministic), most specific first.
std::unique_ptr<google::protobuf::Message> Probe(const std::string& bytes) {
  for (const char* type : {"actions", "manifest", "state", "snapshot", "peer"}) {
    auto m = ForType(type);
    if (!m->ParseFromString(bytes)) continue;
    if (!m->GetReflection()->GetUnknownFields(*m).empty()) continue;
    if (segmenter::SerializeDeterministic(*m) != bytes) continue;
    return m;
  }
  return nullptr;
}

}  // namespace

int Inspect(int argc, char** argv) {
  std::string type;
  bool pretty = false;
  base::FlagSet flags(kProgram, "FILE|URL [--type TYPE] [--pretty]",
                       "Decodes any roomcast object (a .pb file or URL) to JSON. The type\n"
                       "comes from the path (/v1/rooms/...), else from --type, else from\n"
                       "the bytes.");
  flags.String("type", &type,
               "manifest, actions, state, snapshot, peer, watermark or hintkey");
  flags.Bool("pretty", &pretty, "indent the JSON");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (args.size() != 1) return UsageError(kProgram, "takes exactly one FILE or URL");
  if (!type.empty() && ForType(type) == nullptr) {
    return UsageError(kProgram, absl::StrCat("unknown --type ", type));
  }
  const std::string& where = args[0];
  std::string bytes;
  std::string path = where;
  if (absl::StartsWith(where, "http://") || absl::StartsWith(where, "https://")) {
    auto f = client::FetchOnce(where);
    if (!f.ok()) return Failure(kProgram, f.status().message());
    if (f->status != 200) {
      return Failure(kProgram, absl::StrCat(where, ": HTTP ", f->status, " ", f->body));
    }
    bytes = std::move(f->body);
    const size_t slash = where.find('/', where.find("://") + 3);
    path = slash == std::string::npos ? "/" : where.substr(slash);
  } else {
    std::ifstream in(where, std::ios::binary);
    if (!in) return Failure(kProgram, absl::StrCat("cannot read ", where));
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  if (absl::EndsWith(path.substr(0, path.find('?')), ".json")) {
    std::cout << bytes << (absl::EndsWith(bytes, "\n") ? "" : "\n");  // rendered already
    return 0;
  }
  std::unique_ptr<google::protobuf::Message> m;
  if (!type.empty()) {
    m = ForType(type);
    if (!m->ParseFromString(bytes)) {
      return Failure(kProgram, absl::StrCat(where, " is not a valid ", type));
    }
  } else if (auto cls = ClassOfPath(path); cls && segmenter::NewMessageFor(*cls)) {
    auto decoded = segmenter::Decode(*cls, bytes);
    if (!decoded.ok()) return Failure(kProgram, absl::StrCat(where, ": ", decoded.status().message()));
    m = *std::move(decoded);
  } else {
    m = Probe(bytes);
    if (m == nullptr) {
      return Failure(kProgram, absl::StrCat("cannot tell what ", where, " is; pass --type"));
    }
  }
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = pretty;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(*m, &json, opts).ok()) {
    return Failure(kProgram, "cannot render JSON");
  }
  std::cout << json << (pretty ? "" : "\n");
  return 0;
}

}  // namespace roomcast::cli
