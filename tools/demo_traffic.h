// Synthetic traffic for `roomcast dev`'s demo room, sent through the
// publisher's real HTTP API (so the demo exercises what a platform would):
// comments at a realistic, bursty rate, gifts, likes, viewers entering, a
// title, a pinned comment that changes, a leaderboard of the top gifters,
// and presence heartbeats from a drifting crowd of simulated viewers that
// feed the online count. The room may be private (members only).
//
// A demo moderator works the room (DESIGN §11), so a newcomer to the viewer
// sees moderation: it retracts one comment in `retract_every` (as if
// off-topic), and a spammer (`spammer`) bursts a few comments every
// `spam_every_ticks` ticks of 100 ms, which the moderator answers with a
// 60 s ban that also retracts what it sent in the last 30 s. Each step is
// logged (component "demo").
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
  // The demo moderator: off (0) or one comment in this many retracted.
  int retract_every = 20;
  // The spammer's first burst comes after 3 s, then one every this many
  // ticks (30 s); 0: no spammer.
  int64_t spam_every_ticks = 300;
  std::string spammer = "spam-bot";
};

class DemoTraffic {
 public:
  explicit DemoTraffic(DemoOptions options) : options_(std::move(options)) {}
  ~DemoTraffic() { Stop(); }
  void Start();
  void Stop();
  // Messages acknowledged by the publisher so far.
  uint64_t acked() const { return acked_.load(); }
  // What the demo moderator did so far: comments retracted, bans set.
  uint64_t retracted() const { return moderation_.retracted.load(); }
  uint64_t bans() const { return moderation_.bans.load(); }

  struct ModerationCounts {
    std::atomic<uint64_t> retracted{0};
    std::atomic<uint64_t> bans{0};
  };

 private:
  void Run();

  DemoOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  ModerationCounts moderation_;
  std::thread thread_;
};

}  // namespace roomcast::tools

#endif  // ROOMCAST_TOOLS_DEMO_TRAFFIC_H_
