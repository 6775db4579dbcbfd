#include "tests/support/caches.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace roomcast::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

// The configs' per-origin lines (origin/cdn/*: each line holding `marker`,
// outside comments, is written once per origin): `fill` substitutes origin
// i's values. Comments are left as they are.
template <typename Fill>
std::string PerOrigin(const std::string& text, const std::string& marker, size_t origins,
                      Fill fill) {
  std::stringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const size_t code = line.find_first_not_of(" \t");
    if (line.find(marker) == std::string::npos ||
        (code != std::string::npos && line[code] == '#')) {
      out += line + "\n";
      continue;
    }
    for (size_t i = 0; i < origins; ++i) {
      std::string copy = line;
      fill(copy, i);
      out += copy + "\n";
    }
  }
  return out;
}

}  // namespace

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitForPort(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Cache::Cache(Kind kind, std::string origin, std::string edge_secret, std::string purge_secret)
    : Cache(kind, std::vector<std::string>{std::move(origin)}, std::move(edge_secret),
            std::move(purge_secret)) {}

Cache::Cache(Kind kind, std::vector<std::string> origins, std::string edge_secret,
             std::string purge_secret)
    : kind_(kind),
      origins_(std::move(origins)),
      edge_secret_(std::move(edge_secret)),
      purge_secret_(std::move(purge_secret)) {}

Cache::~Cache() {
  if (proc_) proc_->Stop(SIGTERM, std::chrono::seconds(10));
}

bool Cache::Start() {
  const int port = FreePort();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  const std::string cdn_dir = std::string(ROOMCAST_SOURCE_DIR) + "/origin/cdn";
  const std::string log = dir_.path() + "/stderr.log";
  const std::string edge_secret_file = dir_.path() + "/edge-secret";
  std::ofstream(edge_secret_file) << edge_secret_ << "\n";
  const std::string purge_secret_file = dir_.path() + "/purge-secret";
  std::ofstream(purge_secret_file) << purge_secret_ << "\n";
  if (kind_ == Kind::kNginx) {
    // Run as root, nginx's workers drop to "nobody": let them use the dir.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::all);
    std::string conf = ReadFile(cdn_dir + "/nginx.conf");
    ReplaceAll(conf, "@LISTEN@", listen);
    conf = PerOrigin(conf, "@ORIGIN@", origins_.size(), [&](std::string& line, size_t i) {
      ReplaceAll(line, "@ORIGIN@", origins_[i]);
    });
    ReplaceAll(conf, "@DIR@", dir_.path());
    ReplaceAll(conf, "@CDN_DIR@", cdn_dir);
    ReplaceAll(conf, "@EDGE_SECRET_FILE@", edge_secret_file);
    ReplaceAll(conf, "@PURGE_SECRET_FILE@", purge_secret_file);
    std::ofstream(dir_.path() + "/nginx.conf") << conf;
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"nginx", "-e", dir_.path() + "/error.log", "-p",
                                 dir_.path(), "-c", dir_.path() + "/nginx.conf"},
        std::map<std::string, std::string>{}, log);
  } else {
    std::string vcl = ReadFile(cdn_dir + "/varnish.vcl");
    vcl = PerOrigin(vcl, "@I@", origins_.size(), [&](std::string& line, size_t i) {
      const size_t colon = origins_[i].rfind(':');
      ReplaceAll(line, "@I@", std::to_string(i + 1));
      ReplaceAll(line, "@ORIGIN_HOST@", origins_[i].substr(0, colon));
      ReplaceAll(line, "@ORIGIN_PORT@", origins_[i].substr(colon + 1));
    });
    ReplaceAll(vcl, "@EDGE_SECRET_FILE@", edge_secret_file);
    ReplaceAll(vcl, "@PURGE_SECRET_FILE@", purge_secret_file);
    std::ofstream(dir_.path() + "/roomcast.vcl") << vcl;
    // -j none: no privilege separation, so the test needs no varnish user
    // setup; -F: foreground, so its PID is ours to stop.
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"varnishd", "-F", "-j", "none", "-n",
                                 dir_.path() + "/work", "-a", listen, "-f",
                                 dir_.path() + "/roomcast.vcl", "-s", "malloc,64m",
                                 "-p", "thread_pool_min=50", "-p",
                                 "thread_pool_max=1000"},
        std::map<std::string, std::string>{}, log);
  }
  if (!WaitForPort(port, std::chrono::seconds(20))) {
    std::cerr << name() << " did not start:\n" << ReadFile(log)
              << ReadFile(dir_.path() + "/error.log") << std::endl;
    return false;
  }
  url_ = "http://" + listen;
  return true;
}

std::string Cache::VarnishBackends() const {
  if (kind_ != Kind::kVarnish) return "";
  const std::string cmd = "varnishadm -n '" + dir_.path() + "/work' backend.list 2>&1";
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) out.append(buf, n);
    pclose(f);
  }
  return out;
}

}  // namespace roomcast::testing
