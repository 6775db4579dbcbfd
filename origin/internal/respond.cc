#include "origin/internal/respond.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "origin/store.h"
#include "segmenter/codec.h"
#include "segmenter/live.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;
using segmenter::Format;
using segmenter::ObjectRef;

namespace {

// The bytes of one rendition and encoding, with the ETag that names them.
struct Encoded {
  std::string body;
  std::string etag;
  bool gzipped = false;
};

// RFC 9110 §12.4.2: a qvalue is 0 to 1 with up to three decimals; a
// coding with q=0 (0.0, 0.00, 0.000) is "not acceptable".
bool IsZeroQ(absl::string_view params) {
  for (absl::string_view p : absl::StrSplit(params, ';')) {
    p = absl::StripAsciiWhitespace(p);
    if (!absl::ConsumePrefix(&p, "q=") && !absl::ConsumePrefix(&p, "Q=")) continue;
    p = absl::StripAsciiWhitespace(p);
    if (!absl::ConsumePrefix(&p, "0")) return false;
    if (p.empty()) return true;
    if (!absl::ConsumePrefix(&p, ".") || p.size() > 3) return false;
    return p.find_first_not_of('0') == absl::string_view::npos;
  }
  return false;
}

// True if Accept-Encoding allows gzip: a "gzip" coding (any case) whose
// qvalue is not 0. Splits without allocating: this runs on every GET.
bool AcceptsGzip(const http::Request& req) {
  for (absl::string_view part : absl::StrSplit(Header(req, bh::field::accept_encoding), ',')) {
    const size_t semi = part.find(';');
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part.substr(0, semi)), "gzip")) {
      continue;
    }
    return semi == absl::string_view::npos || !IsZeroQ(part.substr(semi + 1));
  }
  return false;
}

// If-None-Match holds `etag` (or "*"); weak comparison as RFC 9110 asks.
bool Matches(const http::Request& req, const std::string& etag) {
  for (absl::string_view tag : absl::StrSplit(Header(req, bh::field::if_none_match), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    absl::ConsumePrefix(&tag, "W/");
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

// The stored .pb bytes, or their stored gzip copy.
Encoded EncodeProto(const StoredObject& obj, bool gzip) {
  Encoded out{.etag = absl::StrCat("\"", obj.digest())};
  out.gzipped = gzip && !obj.gzip().empty();
  out.body = out.gzipped ? obj.gzip() : obj.body();
  return out;
}

// The .json rendition, rendered from the stored .pb on each request, and
// gzipped when it is big enough for that to pay.
absl::StatusOr<Encoded> EncodeJson(const ObjectRef& ref, const StoredObject& obj,
                                   bool gzip) {
  Encoded out{.etag = absl::StrCat("\"", obj.digest(), ".json")};
  if (gzip && !obj.json_gzip().empty()) {  // an action segment: as it streamed
    out.body = obj.json_gzip();
    out.gzipped = true;
    return out;
  }
  // An action segment's .json is its line layout (DESIGN §10); bytes stored
  // before that layout render as before.
  absl::StatusOr<std::string> json = absl::UnknownError("");
  if (ref.cls == segmenter::ObjectClass::kActions) json = segmenter::RenderSegmentJson(obj.body());
  if (!json.ok()) json = segmenter::RenderJson(ref.cls, obj.body());
  if (!json.ok()) return json.status();
  out.body = *std::move(json);
  if (gzip && out.body.size() > 256) {
    if (std::string gz = Gzip(out.body); !gz.empty()) {
      out.body = std::move(gz);
      out.gzipped = true;
    }
  }
  return out;
}

// DESIGN §11: the keys a CDN can purge an object by (Fastly's
// Surrogate-Key, Varnish's xkey): its room, and a bucket's own. Peer
// objects are never cached, so they carry none.
void SetSurrogateKeys(http::Response& res, const ObjectRef& ref) {
  std::string keys;
  switch (ref.cls) {
    case segmenter::ObjectClass::kActions:
      keys = absl::StrCat("room/", ref.room, " bucket/", ref.room, "/", ref.bucket_ms, "/",
                          ref.number);
      break;
    case segmenter::ObjectClass::kManifest:
    case segmenter::ObjectClass::kState:
    case segmenter::ObjectClass::kSnapshot:
      keys = absl::StrCat("room/", ref.room);
      break;
    default:
      return;
  }
  res.set("Surrogate-Key", keys);
  res.set("xkey", keys);
}

}  // namespace

http::Response BadPath(const http::RequestHead& req, const absl::Status& status) {
  const bool not_found = absl::IsNotFound(status);
  return http::Error(req, not_found ? bh::status::not_found : bh::status::bad_request,
                     not_found ? "not_found" : "bad_path", status.message());
}

absl::string_view Header(const http::RequestHead& req, bh::field f) {
  auto it = req.find(f);
  if (it == req.end()) return {};
  return absl::string_view(it->value().data(), it->value().size());
}

http::Response ServeObject(const http::Request& req, const ObjectRef& ref,
                           const StoredObject& obj, const char* cache_control) {
  const bool gzip = AcceptsGzip(req);
  absl::StatusOr<Encoded> enc = ref.format == Format::kJson
                                    ? EncodeJson(ref, obj, gzip)
                                    : EncodeProto(obj, gzip);
  if (!enc.ok()) {
    return http::Error(req, bh::status::internal_server_error, "corrupt",
                       enc.status().message());
  }
  // A strong ETag per encoding: a cache must never answer a gzip validator
  // with identity bytes.
  absl::StrAppend(&enc->etag, enc->gzipped ? ".gz\"" : "\"");
  http::Response res(bh::status::ok, req.version());
  res.keep_alive(req.keep_alive());
  if (Matches(req, enc->etag)) {
    res.result(bh::status::not_modified);
  } else {
    res.set(bh::field::content_type, segmenter::ContentType(ref.format).data());
    if (enc->gzipped) res.set(bh::field::content_encoding, "gzip");
    res.body() = std::move(enc->body);
  }
  res.set(bh::field::etag, enc->etag);
  res.set(bh::field::cache_control, cache_control);
  res.set(bh::field::vary, "Accept-Encoding");
  SetSurrogateKeys(res, ref);
  return res;
}

http::Response StreamHead(const http::Request& req, const ObjectRef& ref, bool* gzip) {
  *gzip = AcceptsGzip(req);
  http::Response res(bh::status::ok, req.version());
  res.keep_alive(req.keep_alive());
  res.set(bh::field::content_type, segmenter::ContentType(ref.format).data());
  if (*gzip) res.set(bh::field::content_encoding, "gzip");
  res.set(bh::field::cache_control, kImmutable);
  res.set(bh::field::vary, "Accept-Encoding");
  SetSurrogateKeys(res, ref);
  return res;
}

std::optional<Encodings> StreamedEncodings(const ObjectRef& ref, absl::string_view pb) {
  if (ref.cls != segmenter::ObjectClass::kActions) return std::nullopt;
  auto pb_chunks = segmenter::SegmentChunks(pb, segmenter::Rendition::kPb);
  auto json_chunks = segmenter::SegmentChunks(pb, segmenter::Rendition::kJson);
  if (!pb_chunks.ok() || !json_chunks.ok()) return std::nullopt;
  return Encodings{.gzip = segmenter::GzipSegment(*pb_chunks),
                   .json_gzip = segmenter::GzipSegment(*json_chunks)};
}

http::Response NotFound(const http::Request& req, const char* cache_control,
                        absl::string_view detail) {
  http::Response res = http::Error(req, bh::status::not_found, "not_found", detail);
  res.set(bh::field::cache_control, cache_control);
  return res;
}

http::Response StoreUnavailable(const http::Request& req, const absl::Status& status) {
  http::Response res =
      http::Error(req, bh::status::service_unavailable, "store", status.message());
  res.set(bh::field::retry_after, "1");
  return res;
}

}  // namespace roomcast::origin
