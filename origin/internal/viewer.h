// The embedded browser viewer (origin/viewer/, see static_files.h) as HTTP
// answers: "/" and "/viewer" redirect to "/viewer/", files under "/viewer/"
// are served short-lived and revalidated by ETag. Internal to origin/.
//
//   if (auto res = ServeViewer(req, path)) return *res;  // else not a viewer path
#ifndef ROOMCAST_ORIGIN_INTERNAL_VIEWER_H_
#define ROOMCAST_ORIGIN_INTERNAL_VIEWER_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "http/server.h"

namespace roomcast::origin {

// The answer for a GET or HEAD of `path`, or nullopt if `path` is not the
// viewer's.
std::optional<http::Response> ServeViewer(const http::Request& req,
                                          absl::string_view path);

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_VIEWER_H_
