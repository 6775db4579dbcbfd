// Synthetic traffic for `roomcast dev`'s demo room, sent through the
// publisher's real HTTP API (so the demo exercises what a platform would):
// comments at a realistic, bursty rate, gifts, likes, viewers entering, a
// title, a pinned comment that changes, a leaderboard of the top gifters,
// and presence heartbeats from a drifting crowd of simulated viewers that
// feed the online count. The room may be private (members only).
#ifndef ROOMCAST_TOOLS_DEMO_TRAFFIC_H_
#define ROOMCAST_TOOLS_DEMO_TRAFFIC_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace roomcast::tools {

struct DemoOptions {
  std::string publisher_url;  // "http://127.0.0.1:8081"
  std::string jwt_secret;
  std::string room = "demo";
  int64_t bucket_ms = 500;
  double comments_per_s = 6;
  int viewers = 150;  // simulated crowd size (drifts around this)
  // Opened with "private": true: its objects are read under /v1/private/
  // with an edge token (DESIGN §12).
  bool private_room = false;
  std::string title = "Late night lo-fi session 🎧";
};

class DemoTraffic {
 public:
  explicit DemoTraffic(DemoOptions options) : options_(std::move(options)) {}
  ~DemoTraffic() { Stop(); }
  void Start();
  void Stop();
  // Messages acknowledged by the publisher so far.
  uint64_t acked() const { return acked_.load(); }

 private:
  void Run();

  DemoOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::thread thread_;
};

}  // namespace roomcast::tools

#endif  // ROOMCAST_TOOLS_DEMO_TRAFFIC_H_
