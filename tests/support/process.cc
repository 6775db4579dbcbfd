#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace roomcast::testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void ExecChild(const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

void ApplyLimits(const ProcessLimits& limits) {
  if (limits.open_files != 0) {
    rlimit n{.rlim_cur = limits.open_files, .rlim_max = limits.open_files};
    setrlimit(RLIMIT_NOFILE, &n);
  }
  if (limits.file_size_bytes == 0) return;
  // Ignored signals stay ignored across exec: a write past the limit then
  // fails with EFBIG instead of killing the child.
  signal(SIGXFSZ, SIG_IGN);
  rlimit r{.rlim_cur = limits.file_size_bytes, .rlim_max = limits.file_size_bytes};
  setrlimit(RLIMIT_FSIZE, &r);
}

int DecodeStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

// Reads the child's stdout and stderr into `r` until both close or the
// deadline; closes both.
void ReadUntilClosed(int out_fd, int err_fd, Clock::time_point deadline, RunResult* r) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && Clock::now() < deadline) {
    if (poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r->out : r->err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
}

// The child's exit status, or -1 (after SIGKILL) if it outlives the deadline.
int Reap(pid_t pid, Clock::time_point deadline) {
  int st = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid, &st, WNOHANG) == pid) return DecodeStatus(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

}  // namespace

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                 std::string stderr_path, ProcessLimits limits) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    if (!stderr_path.empty()) {
      int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
    }
    ApplyLimits(limits);
    ExecChild(argv, env);
  }
  close(out[1]);
  stdout_fd_ = out[0];
}

Process::~Process() {
  if (running()) Stop(SIGKILL, std::chrono::seconds(5));
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::string Process::WaitForListening(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string got;
  while (Clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      if (!running()) return "";
      continue;
    }
    char c;
    if (read(stdout_fd_, &c, 1) != 1) return "";
    if (c != '\n') {
      got += c;
      continue;
    }
    const std::string prefix = "listening on ";
    if (got.rfind(prefix, 0) == 0) return got.substr(prefix.size());
    got.clear();
  }
  return "";
}

bool Process::running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = DecodeStatus(st);
    return false;
  }
  return true;
}

int Process::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

int Process::Stop(int signal, std::chrono::milliseconds timeout) {
  if (running()) kill(pid_, signal);
  return Wait(timeout);
}

RunResult Run(std::vector<std::string> argv, std::map<std::string, std::string> env,
              std::chrono::milliseconds timeout, const std::string& stdin_data) {
  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err)) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    ExecChild(argv, env);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!stdin_data.empty()) {
    ssize_t n = write(in[1], stdin_data.data(), stdin_data.size());
    (void)n;
  }
  close(in[1]);
  RunResult r;
  const auto deadline = Clock::now() + timeout;
  ReadUntilClosed(out[0], err[0], deadline, &r);
  r.status = Reap(pid, deadline);
  return r;
}

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path() / "roomcast-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string BinaryPath(const std::string& name) {
  // ROOMCAST_BIN_DIR in the environment runs the tests against a frozen copy
  // of the binaries, so that a rebuild cannot change them under a long loop.
  const char* dir = std::getenv("ROOMCAST_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : ROOMCAST_BIN_DIR) + "/" + name;
}

}  // namespace roomcast::testing
