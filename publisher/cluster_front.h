// Cluster mode's publisher (DESIGN §13): rooms hash to shards, this process
// owns some of them by KV leases (cluster::ShardOwner) and runs one
// Publisher engine per owned shard, whose publisher id is the shard's name
// ("s07") so its watermark and objects at the origin stay the same whoever
// owns it. Any request for a room is taken here: served by the local engine
// if its shard is ours, or handed to the owner over NATS
// (cluster::Requester, subject "rcfwd.<holder>.<shard>", the holder read
// from the shard's lease) and the owner's answer
// passed back, so a client is never told to go elsewhere. With no owner (a
// failover between the old owner's lease expiring and the new one's replay)
// the answer is 503 with Retry-After.
//
// A request is authorised where it is taken, before its body is read (the
// IngestApi's Admit), and again by the owner. One that arrives handed on
// and finds its shard moved again is not handed on a second time (503):
// no request circles.
//
//   auto front = ClusterFront::Start({.nats_urls = urls, .holder = "pub-1"}, api_options,
//       [&](int shard, uint64_t term, cluster::JetStream& js) { return Open(shard, term, js); });
//   http::Server server(..., [&](http::Request& r) { return (*front)->api().Handle(r); });
#ifndef ROOMCAST_PUBLISHER_CLUSTER_FRONT_H_
#define ROOMCAST_PUBLISHER_CLUSTER_FRONT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/forward.h"
#include "cluster/jetstream.h"
#include "cluster/kv.h"
#include "cluster/shards.h"
#include "http/metrics.h"
#include "publisher/api.h"
#include "publisher/publisher.h"

namespace roomcast::publisher {

struct ClusterOptions {
  std::vector<std::string> nats_urls;
  std::string holder;  // this publisher's id: unique in the cluster
  // Fixed for a deployment: changing it moves rooms between shards.
  int shards = 16;
  // A dead owner's shards are taken over this long after its last renewal.
  std::chrono::milliseconds lease_ttl{3000};
  // A handed-on write waits this long for the owner's answer (then 503).
  std::chrono::milliseconds forward_timeout{5000};
  // A shard handed back (another publisher joined) publishes this long
  // first; what is left the next owner re-publishes from the log.
  int64_t handback_flush_ms = 1000;
  // Threads serving writes handed here by other publishers.
  int forward_threads = 2;
};

class ClusterFront : public RoomRouter {
 public:
  // Opens the engine of `shard` for the lease's `term` (replaying its log
  // from `js`). Whatever the engine uses of its own (its uploader: a
  // hand-back's flush sets its deadline) goes with the last reference.
  // Nothing it sends the origin may start after `valid_until`
  // (Publisher::SetValidUntil; each renewal moves it on).
  using OpenEngine = std::function<absl::StatusOr<std::shared_ptr<Publisher>>(
      int shard, uint64_t term, std::chrono::steady_clock::time_point valid_until,
      cluster::JetStream& js)>;

  // Connects, then takes shards from a thread of its own. `open` runs on
  // that thread.
  static absl::StatusOr<std::unique_ptr<ClusterFront>> Start(ClusterOptions options,
                                                             ApiOptions api, OpenEngine open);
  ~ClusterFront() override;  // Stop()
  ClusterFront(const ClusterFront&) = delete;
  ClusterFront& operator=(const ClusterFront&) = delete;

  // Hands every shard back (each engine publishes for handback_flush_ms
  // first), then stops serving handed-on writes.
  void Stop();

  IngestApi& api() { return *api_; }
  cluster::JetStream& js() { return *js_; }
  std::vector<int> owned_shards();

  // RoomRouter.
  std::shared_ptr<Publisher> Local(const std::string& room) override;
  boost::asio::awaitable<http::Response> Forward(http::Request& req,
                                                 const std::string& room) override;
  bool healthy() override;
  std::string RenderMetrics() override;

 private:
  struct Engine {
    std::shared_ptr<Publisher> publisher;
    std::unique_ptr<cluster::Responder> responder;  // serves rcfwd.<shard>
  };
  ClusterFront(ClusterOptions options, OpenEngine open);
  absl::Status Acquired(int shard, uint64_t term,
                        std::chrono::steady_clock::time_point valid_until);
  void Renewed(int shard, std::chrono::steady_clock::time_point valid_until);
  void Lost(int shard, bool handing_back);
  bool Fenced(int shard);
  // The holder of `shard`'s lease (read at most once a second), and the
  // forgetting of it when it did not answer.
  absl::StatusOr<std::string> OwnerOf(int shard);
  void ForgetOwner(int shard);
  // A write another publisher handed here (on libnats' thread).
  void ServeForwarded(std::string request, cluster::Responder::Reply reply);

  const ClusterOptions options_;
  const OpenEngine open_;
  http::Metrics metrics_;
  http::Counter* forwarded_out_ = nullptr;
  http::Counter* forwarded_in_ = nullptr;
  http::Counter* forward_unavailable_ = nullptr;
  http::Counter* takeovers_ = nullptr;
  std::unique_ptr<cluster::JetStream> js_;
  std::unique_ptr<cluster::Kv> leases_, members_;
  std::unique_ptr<cluster::Requester> requester_;
  std::unique_ptr<IngestApi> api_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  absl::Mutex mu_;
  std::map<int, Engine> engines_ ABSL_GUARDED_BY(mu_);
  struct Owner {
    std::string holder;
    absl::Time read;
  };
  std::map<int, Owner> owners_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<cluster::ShardOwner> owner_;
  bool stopped_ = false;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_CLUSTER_FRONT_H_
