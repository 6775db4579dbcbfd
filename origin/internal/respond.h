// How the origin answers with an object: the Cache-Control values of
// DESIGN §4, the stored bytes in the rendition and encoding asked for, each
// under its own strong ETag, and the shared "not found" and "store failed"
// answers. Internal to origin/.
//
//   if (obj == nullptr) return NotFound(req, kNotYet, "no such version (yet)");
//   return ServeObject(req, ref, *obj, kImmutable);
#ifndef ROOMCAST_ORIGIN_INTERNAL_RESPOND_H_
#define ROOMCAST_ORIGIN_INTERNAL_RESPOND_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "http/server.h"
#include "origin/object_store.h"
#include "origin/stored.pb.h"
#include "segmenter/naming.h"

namespace roomcast::origin {

inline constexpr char kImmutable[] = "public, max-age=31536000, immutable";
inline constexpr char kNotYet[] = "public, max-age=1";
inline constexpr char kNeverWillBe[] = "public, max-age=60";
inline constexpr char kPrivate[] = "private, no-store";
inline constexpr char kNoStore[] = "no-store";
// The publisher's push of open buckets' records (live.proto).
inline constexpr char kLivePath[] = "/v1/live";

// The value of header `f`, empty if absent.
absl::string_view Header(const http::RequestHead& req, boost::beast::http::field f);

// 200 with `obj` as `ref` names it (.pb or rendered .json; gzip if the
// client takes it), or 304 if If-None-Match holds its ETag.
http::Response ServeObject(const http::Request& req,
                           const segmenter::ObjectRef& ref,
                           const StoredObject& obj, const char* cache_control);

// The head of a streamed open bucket (DESIGN §10): 200, immutable, the
// headers ServeObject would set but no ETag and no Content-Length. `gzip`
// tells whether the body will be gzip.
http::Response StreamHead(const http::Request& req, const segmenter::ObjectRef& ref,
                          bool* gzip);

// An action segment's stored gzip copies: exactly what its streams sent
// (segmenter::GzipSegment of each rendition's chunks). nullopt for other
// classes, or bytes not in the streamed layout (the store's own gzip then).
std::optional<Encodings> StreamedEncodings(const segmenter::ObjectRef& ref,
                                           absl::string_view pb);

// 404 that a cache may keep as `cache_control` says.
http::Response NotFound(const http::Request& req, const char* cache_control,
                        absl::string_view detail);

// 404 for a well-formed path that names no object class, 400 for the rest.
http::Response BadPath(const http::RequestHead& req, const absl::Status& status);

// 503: the store could not answer; the request may be retried.
http::Response StoreUnavailable(const http::Request& req,
                                const absl::Status& status);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_RESPOND_H_
