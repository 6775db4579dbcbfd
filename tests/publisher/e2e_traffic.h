// Load for the end-to-end tests: clients posting comments (single and
// batched) to a publisher that may die and come back on another port, each
// recording every ack; and a bucket-hold follower reading a room's segments
// from the origin as a viewer would, remembering the bytes it was served.
//
// Every comment's text is its client_msg_id, unique in the run. A client
// retries a request (same body, same ids) until it is acknowledged, so after
// Stop() every message is acked exactly once or listed as unacked.
//
//   SharedUrl url(publisher_->url());
//   Traffic traffic({.room = "r", .token = t}, &url);
//   Follower follower(origin_->url(), "r", 250, first_k);
//   ... crash and restart, url.Set(new_url) ...
//   traffic.Stop(std::chrono::seconds(10));
//   ExpectAllAckedExactlyOnce(final_segments, traffic, follower);
#ifndef ROOMCAST_TESTS_PUBLISHER_E2E_TRAFFIC_H_
#define ROOMCAST_TESTS_PUBLISHER_E2E_TRAFFIC_H_

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {

// A URL that changes when a process restarts.
class SharedUrl {
 public:
  explicit SharedUrl(std::string url) : url_(std::move(url)) {}
  void Set(std::string url) {
    std::lock_guard<std::mutex> l(mu_);
    url_ = std::move(url);
  }
  std::string Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return url_;
  }

 private:
  mutable std::mutex mu_;
  std::string url_;
};

struct TrafficOptions {
  std::string room;
  std::string token;
  int threads = 3;
  int max_batch = 20;  // a request holds 1 .. max_batch messages
  uint32_t seed = 1;
};

class Traffic {
 public:
  Traffic(TrafficOptions options, const SharedUrl* publisher);
  ~Traffic();
  // No new requests; pending ones are retried until acked or `drain` passes.
  void Stop(std::chrono::milliseconds drain);

  int64_t acked() const { return acked_.load(); }
  // After Stop(): the ack of every message by its text, the texts never
  // acknowledged, and anything unexpected (a status other than 200/503/none,
  // a reply that does not match its request).
  const std::map<std::string, Ack>& acks() const { return acks_; }
  const std::set<std::string>& unacked() const { return unacked_; }
  const std::vector<std::string>& problems() const { return problems_; }
  int64_t requests() const { return requests_.load(); }
  int64_t retries() const { return retries_.load(); }

 private:
  void Run(int thread);

  const TrafficOptions options_;
  const SharedUrl* publisher_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> give_up_{false};
  std::atomic<int64_t> acked_{0};
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> retries_{0};
  std::atomic<int> done_threads_{0};
  std::mutex mu_;
  std::map<std::string, Ack> acks_;
  std::set<std::string> unacked_;
  std::vector<std::string> problems_;
  std::vector<std::thread> threads_;
};

// Follows a room in bucket-hold mode from bucket `first_k`, keeping the
// bytes of every segment the origin served (the origin may be down at times).
class Follower {
 public:
  Follower(std::string origin_url, std::string room, int64_t bucket_ms, int64_t first_k);
  ~Follower();
  void Stop();
  // After Stop(): bucket -> bytes as first served.
  const std::map<int64_t, std::string>& seen() const { return seen_; }

 private:
  void Run();

  const std::string origin_url_, room_;
  const int64_t bucket_ms_;
  int64_t next_k_;
  std::atomic<bool> stop_{false};
  std::map<int64_t, std::string> seen_;
  std::thread thread_;
};

// DESIGN §7 invariants 1-3 over a room read back at the end (cap off, so
// nothing may be dropped): seq continuity, every ack in exactly one segment
// at its acked seq, bucket and ts; unacked messages at most once; every
// segment a viewer was served earlier byte-identical now.
void ExpectAllAckedExactlyOnce(const RoomSegments& final_segments, const Traffic& traffic,
                               const Follower& follower);

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_E2E_TRAFFIC_H_
