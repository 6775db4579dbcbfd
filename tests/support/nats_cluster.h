// Test support: a real NATS JetStream cluster on loopback (DESIGN §13),
// started by the test itself: three `nats-server` processes, each with its
// own ports and store directory, routed to each other, stopped by PID.
//
// Ports: JetStream clustering needs every node's route port known when the
// nodes start, so the ports cannot be the kernel's pick. They come from a
// block of 9 (client, route, monitoring per node) below the kernel's
// ephemeral range (so no outgoing connection is ever given one), held for
// the cluster's life by an flock on a file named after the block (so two
// test processes running at once never share one), and checked free by a
// bind before use. A restarted node comes back on its own ports.
//
//   NatsCluster nats;                     // 3 nodes; JetStream ready
//   auto js = cluster::JetStream::Connect({.urls = nats.urls()});
//   nats.Kill(nats.IndexOf(leader));      // kill -9
//   nats.Restart(i);                      // same store dir, same ports
#ifndef ROOMCAST_TESTS_SUPPORT_NATS_CLUSTER_H_
#define ROOMCAST_TESTS_SUPPORT_NATS_CLUSTER_H_

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "cluster/retry.h"

#include "tests/support/process.h"

namespace roomcast::testing {

class NatsCluster {
 public:
  // Starts `nodes` servers and waits (bounded) until the cluster has a
  // JetStream meta leader. ready() says whether it got there.
  explicit NatsCluster(int nodes = 3);
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  bool ready() const { return ready_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  // nats://127.0.0.1:PORT of every node, running or not.
  std::vector<std::string> urls() const;
  std::string url(int i) const;
  std::string name(int i) const { return nodes_[i].name; }  // its server_name
  int IndexOf(const std::string& server_name) const;  // -1 if none
  bool running(int i) const { return nodes_[i].process != nullptr; }

  // kill -9, and waits for the exit.
  void Kill(int i);
  // SIGSTOP / SIGCONT: a node that stops answering without going away.
  void Pause(int i);
  void Resume(int i);
  // Starts node i again from its store directory and waits until it has
  // caught up: the meta group and every stream's leader count it current,
  // and its own store of each stream holds what the leader had stored.
  // Only then may it or another node be killed with a quorum left (a node
  // that answers but is still catching up is not one of it). False if it
  // did not get there within the bound. A node stuck after its restart (a
  // nats-server 2.9.10 fault, see the .cc) is restarted once more, saying so.
  bool Restart(int i);
  // What node i itself stores of `stream` (its own replica, not the
  // leader's): the last sequence and message count; nullopt if it does not
  // answer or hold the stream.
  struct ReplicaState {
    uint64_t messages = 0, last_seq = 0;
    bool operator==(const ReplicaState&) const = default;
  };
  std::optional<ReplicaState> StreamStateOn(int i, const std::string& stream);

 private:
  struct Node {
    std::string name;
    int client_port = 0, route_port = 0, http_port = 0;
    std::string dir;
    std::unique_ptr<Process> process;
  };
  bool ReservePorts(int nodes);
  void WriteConfig(const Node& n) const;
  bool Start(Node& n);
  bool WaitForMetaLeader(std::chrono::milliseconds timeout);
  bool WaitForCaughtUp(int i, std::chrono::milliseconds timeout);
  // One look: whether node i is current everywhere (every up node's /jsz
  // agrees, and its own store reached each leader's); if not, why, and the
  // stream it lags in (left alone if that is not the reason).
  // *targets: the last sequence each stream's leader had when node i was
  // first seen current there (kept from look to look), which its own store
  // must reach.
  bool CaughtUp(int i, std::map<std::string, uint64_t>* targets, std::string* why,
                std::string* lagging_stream);

  TempDir dir_;
  std::vector<Node> nodes_;
  int lock_fd_ = -1;
  bool ready_ = false;
};

// A JetStream call retried while the cluster settles (cluster/retry.h).
using cluster::WhileUnavailable;

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_SUPPORT_NATS_CLUSTER_H_
