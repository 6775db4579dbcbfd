// A temporary directory for one test, removed with everything in it.
#ifndef ROOMCAST_TESTS_PUBLISHER_TEMP_DIR_H_
#define ROOMCAST_TESTS_PUBLISHER_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace roomcast::publisher::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "roomcast-pub-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace roomcast::publisher::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_TEMP_DIR_H_
