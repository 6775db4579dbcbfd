// roomcast inspect FILE|URL: any roomcast object decoded to JSON. The type
// comes from the path (the naming module parses it), or from --type, or, for
// a file named otherwise, from which message the bytes are canonically. A
// private room's URL (/v1/private/...) is read with --edge-token.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/flags.h"
#include "client/fetch.h"
#include "client/room_access.h"
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

// An object's bytes and the path that names it (a URL's path, or a file's).
struct Object {
  std::string bytes;
  std::string path;
};

// The path of a URL ("/" if it has none).
std::string PathOf(const std::string& url) {
  const size_t slash = url.find('/', url.find("://") + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

// The edge token goes only where it is asked for: a private room's path.
std::vector<std::string> HeadersFor(const std::string& path, const std::string& edge_token) {
  auto ref = segmenter::ParsePath(path.substr(0, path.find('?')));
  if (edge_token.empty() || !ref.ok() || ref->scope != segmenter::Scope::kPrivate) return {};
  return {client::EdgeTokenCookie(edge_token)};
}

absl::StatusOr<Object> Read(const std::string& where, const std::string& edge_token) {
  if (absl::StartsWith(where, "http://") || absl::StartsWith(where, "https://")) {
    std::string path = PathOf(where);
    absl::StatusOr<http::ClientReply> f = client::FetchOnce(where, HeadersFor(path, edge_token));
    if (!f.ok()) return f.status();
    if (f->status == 401 || f->status == 403) return client::RefusalOf(*f, where);
    if (f->status != 200) {
      return absl::UnavailableError(absl::StrCat(
          where, ": HTTP ", f->status, " ", absl::StripTrailingAsciiWhitespace(f->body)));
    }
    return Object{std::move(f->body), std::move(path)};
  }
  std::ifstream in(where, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", where));
  std::stringstream ss;
  ss << in.rdbuf();
  return Object{ss.str(), where};
}

// The message `o` holds: of --type if given, else of the class its path
// names, else whatever the bytes are canonically.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Decode(
    const std::string& where, const Object& o, const std::string& type) {
  if (!type.empty()) {
    std::unique_ptr<google::protobuf::Message> m = ForType(type);
    if (!m->ParseFromString(o.bytes)) {
      return absl::DataLossError(absl::StrCat(where, " is not a valid ", type));
    }
    return m;
  }
  if (auto cls = ClassOfPath(o.path); cls && segmenter::NewMessageFor(*cls)) {
    auto decoded = segmenter::Decode(*cls, o.bytes);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat(where, ": ", decoded.status().message()));
    }
    return decoded;
  }
  std::unique_ptr<google::protobuf::Message> m = Probe(o.bytes);
  if (m == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot tell what ", where, " is; pass --type"));
  }
  return m;
}

}  // namespace

int Inspect(int argc, char** argv) {
  std::string type;
  bool pretty = false;
  base::FlagSet flags(kProgram, "FILE|URL [--type TYPE] [--pretty] [--edge-token TOKEN]",
                      absl::StrCat(
                          "Decodes any roomcast object (a .pb file or URL) to JSON. The type\n"
                          "comes from the path (/v1/rooms/..., /v1/private/...), else from\n"
                          "--type, else from the bytes.\n",
                          kPrivateRoomHelp, " The token is sent only to /v1/private/ URLs."));
  flags.String("type", &type,
               "manifest, actions, state, snapshot, peer, watermark or hintkey");
  flags.Bool("pretty", &pretty, "indent the JSON");
  EdgeTokenFlags edge_token(flags);
  std::vector<std::string> args = flags.ParseOrExit(argc, argv, 2);
  if (args.size() != 1) return UsageError(kProgram, "takes exactly one FILE or URL");
  if (!type.empty() && ForType(type) == nullptr) {
    return UsageError(kProgram, absl::StrCat("unknown --type ", type));
  }
  absl::StatusOr<std::string> token = edge_token.Resolve();
  if (!token.ok()) return UsageError(kProgram, token.status().message());
  const std::string& where = args[0];
  absl::StatusOr<Object> o = Read(where, *token);
  if (!o.ok()) return Failure(kProgram, o.status().message());
  if (absl::EndsWith(o->path.substr(0, o->path.find('?')), ".json")) {
    std::cout << o->bytes << (absl::EndsWith(o->bytes, "\n") ? "" : "\n");  // rendered already
    return 0;
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> m = Decode(where, *o, type);
  if (!m.ok()) return Failure(kProgram, m.status().message());
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = pretty;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(**m, &json, opts).ok()) {
    return Failure(kProgram, "cannot render JSON");
  }
  std::cout << json << (pretty ? "" : "\n");
  return 0;
}

}  // namespace roomcast::cli
