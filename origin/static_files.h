// The browser viewer (origin/viewer/), embedded in the binary at build time
// and served at /viewer/ so `roomcast dev` and any origin have it with no
// set-up. It reads only the public .json URLs a CDN would serve.
#ifndef ROOMCAST_ORIGIN_STATIC_FILES_H_
#define ROOMCAST_ORIGIN_STATIC_FILES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace roomcast::origin {

struct StaticFile {
  const char* name;          // "index.html"
  const char* content_type;
  absl::string_view bytes;
};

// Every file of origin/viewer/.
const std::vector<StaticFile>& ViewerFiles();

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_STATIC_FILES_H_
