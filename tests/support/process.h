// Test support: start a real roomcast binary (or nginx, varnishd) as a child
// process, read its "listening on http://HOST:PORT" line, and end it by PID.
#ifndef ROOMCAST_TESTS_SUPPORT_PROCESS_H_
#define ROOMCAST_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace roomcast::testing {

// Resource limits applied in the child before exec (none by default).
struct ProcessLimits {
  // RLIMIT_FSIZE: no file the child writes may grow past this many bytes
  // (writes past it fail with EFBIG; SIGXFSZ is ignored), a portable stand-in
  // for a full disk. 0: unlimited.
  uint64_t file_size_bytes = 0;
  // RLIMIT_NOFILE, soft and hard: descriptors the child may hold. 0: as
  // inherited.
  uint64_t open_files = 0;
};

class Process {
 public:
  // Starts argv[0] with extra environment variables; stdout is captured so the
  // first line can be read, stderr goes to `stderr_path` (or the test's).
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
          std::string stderr_path = "", ProcessLimits limits = {});
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Reads stdout until "listening on URL"; returns URL or "" on timeout/exit.
  std::string WaitForListening(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends a signal and waits for the exit; returns the exit status (or
  // 128+signal), -1 if it did not exit in time.
  int Stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the process to exit by itself.
  int Wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }
  bool running();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int status_ = -1;
};

// Runs a command to completion (bounded); returns exit status and output.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};
RunResult Run(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(30),
              const std::string& stdin_data = "");

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Path of a built binary, from the ROOMCAST_BIN_DIR compile definition.
std::string BinaryPath(const std::string& name);

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_PROCESS_H_
