// Command-line flags for every roomcast binary: `--name value`,
// `--name=value`, boolean `--name`, `--help`, and DESIGN §8's exit codes
// (0 success, 2 bad usage, 1 failure). Written here rather than using
// absl::flags because absl's parser exits 1 on a bad flag and prints every
// absl-internal flag in --help.
//
//   std::string listen = "127.0.0.1:8080";
//   FlagSet flags("roomcast-origin", "--listen HOST:PORT --data DIR",
//                 "HTTP origin that CDNs pull from.");
//   flags.String("listen", &listen, "address to serve on; port 0 picks one");
//   std::vector<std::string> args = flags.ParseOrExit(argc, argv);
#ifndef ROOMCAST_BASE_FLAGS_H_
#define ROOMCAST_BASE_FLAGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roomcast::base {

class FlagSet {
 public:
  FlagSet(std::string program, std::string synopsis, std::string description);

  // Registers a flag; the variable's current value is the default.
  void String(std::string name, std::string* out, std::string help);
  void Int(std::string name, int64_t* out, std::string help);
  void Double(std::string name, double* out, std::string help);
  void Bool(std::string name, bool* out, std::string help);
  // A flag that may be given more than once; each value is appended.
  void Strings(std::string name, std::vector<std::string>* out, std::string help);
  // A flag that must be given.
  void Require(const std::string& name);

  // Parses argv[first..]; returns the positional arguments. kInvalidArgument
  // names the problem. Sets help_requested() on --help / -h.
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv,
                                                 int first = 1);
  // Parse, then: --help prints Usage() and exits 0; a bad flag prints one line
  // and a hint to stderr and exits 2.
  std::vector<std::string> ParseOrExit(int argc, char** argv, int first = 1);

  bool help_requested() const { return help_; }
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    bool required = false;
    bool seen = false;
    std::function<absl::Status(absl::string_view)> set;
  };
  Flag* Find(absl::string_view name);

  std::string program_, synopsis_, description_;
  std::vector<Flag> flags_;
  bool help_ = false;
};

// A secret from the environment variable `env`, or else from `file` (a
// path, which may be empty). Trailing newlines are stripped. Secrets never go
// on the command line, where `ps` shows them.
absl::StatusOr<std::string> ReadSecret(const char* env, const std::string& file);

// Prints "PROGRAM: reason" to stderr and exits 1.
[[noreturn]] void Fail(absl::string_view program, const absl::Status& status);

}  // namespace roomcast::base

#endif  // ROOMCAST_BASE_FLAGS_H_
