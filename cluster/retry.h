// Retrying a JetStream call that may meet a cluster still settling: a stream
// or its leader being placed after a cold start (nats-server says healthy
// about 4 s before streams take writes: measured), or a leader election
// (5-6 s on 2.9.10). Only kUnavailable is retried.
//
//   auto kv = WhileUnavailable([&] { return Kv::Open(js, config); }, 30s);
#ifndef ROOMCAST_CLUSTER_RETRY_H_
#define ROOMCAST_CLUSTER_RETRY_H_

#include <chrono>
#include <thread>

#include "absl/status/status.h"

namespace roomcast::cluster {

// Calls `f` (returning absl::Status or StatusOr) again every 100 ms while it
// answers kUnavailable, for at most `bound`; its last answer.
template <typename F>
auto WhileUnavailable(F f, std::chrono::milliseconds bound = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  auto r = f();
  while (!r.ok() && absl::IsUnavailable(r.status()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = f();
  }
  return r;
}

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_RETRY_H_
