#include "origin/internal/viewer.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "origin/static_files.h"

namespace roomcast::origin {
namespace bh = boost::beast::http;

namespace {

// The ETag of each viewer file, computed once: the files are compiled in.
const std::string& EtagOf(const StaticFile& file) {
  static const auto* etags = [] {
    auto* m = new std::map<std::string, std::string>;
    for (const StaticFile& f : ViewerFiles()) {
      (*m)[f.name] = absl::StrCat("\"", base::Sha256Hex(f.bytes), "\"");
    }
    return m;
  }();
  return etags->at(file.name);
}

// Short-lived in caches (it changes between releases), revalidated by ETag.
http::Response ServeFile(const http::Request& req, const StaticFile& f) {
  const std::string& etag = EtagOf(f);
  http::Response res = http::Text(req, bh::status::ok, std::string(f.bytes),
                                  f.content_type);
  if (auto inm = req.find(bh::field::if_none_match);
      inm != req.end() && inm->value() == etag) {
    res.result(bh::status::not_modified);
    res.body().clear();
  }
  res.set(bh::field::etag, etag);
  res.set(bh::field::cache_control, "public, max-age=60");
  return res;
}

}  // namespace

std::optional<http::Response> ServeViewer(const http::Request& req,
                                          absl::string_view path) {
  if (path == "/" || path == "/viewer") {
    http::Response res = http::Text(req, bh::status::found, "");
    res.set(bh::field::location, "/viewer/");
    return res;
  }
  if (!absl::ConsumePrefix(&path, "/viewer/")) return std::nullopt;
  if (path.empty()) path = "index.html";
  for (const StaticFile& f : ViewerFiles()) {
    if (path == f.name) return ServeFile(req, f);
  }
  return http::Error(req, bh::status::not_found, "not_found", "no such viewer file");
}

}  // namespace roomcast::origin
