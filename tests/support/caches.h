// Test support: a real nginx or Varnish in front of one or more origins,
// started from the reference configs in origin/cdn/ on a free loopback port,
// and stopped by PID.
//
//   Cache cache(Cache::Kind::kVarnish, {"127.0.0.1:8081", "127.0.0.1:8082"});
//   ASSERT_TRUE(cache.Start());
//   Get(cache.url() + "/v1/rooms/lobby/manifest.pb");
#ifndef ROOMCAST_TESTS_SUPPORT_CACHES_H_
#define ROOMCAST_TESTS_SUPPORT_CACHES_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace roomcast::testing {

class Cache {
 public:
  enum class Kind { kNginx, kVarnish };
  // `origin` is "HOST:PORT"; `edge_secret` verifies private rooms' edge
  // tokens and `purge_secret` the origin's PURGE after a takedown (each
  // written to the file the configs name).
  Cache(Kind kind, std::string origin, std::string edge_secret = "no-private-rooms-here",
        std::string purge_secret = kDefaultPurgeSecret);
  // Several origins serving the same objects (DESIGN §13), each "HOST:PORT":
  // every one is a backend (nginx's upstream, Varnish's director).
  Cache(Kind kind, std::vector<std::string> origins,
        std::string edge_secret = "no-private-rooms-here",
        std::string purge_secret = kDefaultPurgeSecret);
  static constexpr char kDefaultPurgeSecret[] = "test-purge-secret";
  ~Cache();
  // Starts the cache; false (with the reason on stderr) if it did not come up.
  bool Start();
  const std::string& url() const { return url_; }
  const char* name() const { return kind_ == Kind::kNginx ? "nginx" : "varnish"; }
  const std::string& purge_secret() const { return purge_secret_; }
  // Varnish only: what `varnishadm backend.list` says (a backend per
  // origin, origin1..N, with its probe's verdict); "" for nginx.
  std::string VarnishBackends() const;

 private:
  Kind kind_;
  std::vector<std::string> origins_;
  std::string edge_secret_;
  std::string purge_secret_;
  TempDir dir_;
  std::unique_ptr<Process> proc_;
  std::string url_;
};

// A currently free TCP port on 127.0.0.1.
int FreePort();
// True once 127.0.0.1:port accepts connections (bounded wait).
bool WaitForPort(int port, std::chrono::milliseconds timeout);

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_CACHES_H_
