// An asynchronous libnats subscription whose last callback is known to have
// returned. libnats may still run a message handler once more after
// natsSubscription_Unsubscribe returns, or be running one (nats.h, at
// natsSubscription_SetOnCompleteCB); a drain whose wait timed out (a server
// gone while shutting down) goes on delivering after the wait. Whoever then
// frees what the handler uses crashes the process: seen as a segfault of an
// origin stopped while its NATS nodes stopped too, its notice handler
// returning from a read that timed out. Close() returns only after
// libnats' completion callback: the subscription is closed and its handler
// has returned for the last time.
//
//   AsyncSubscription sub;
//   natsConnection_Subscribe(&s, nc, "x.>", &OnMessage, this);
//   sub.Adopt(s);
//   ...
//   sub.Close(5000);  // drained up to 5 s; no handler runs after this
#ifndef ROOMCAST_CLUSTER_ASYNC_SUBSCRIPTION_H_
#define ROOMCAST_CLUSTER_ASYNC_SUBSCRIPTION_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

struct __natsSubscription;

namespace roomcast::cluster {

class AsyncSubscription {
 public:
  AsyncSubscription() = default;
  ~AsyncSubscription() { Close(0); }
  AsyncSubscription(const AsyncSubscription&) = delete;
  AsyncSubscription& operator=(const AsyncSubscription&) = delete;

  // Takes a subscription just made with a message handler.
  void Adopt(__natsSubscription* sub);

  // Stops delivery and waits until the handler has returned for the last
  // time. With drain_ms > 0, messages already received are handled first,
  // for up to drain_ms (then libnats closes it); with 0, it unsubscribes.
  // A second call does nothing.
  void Close(int drain_ms);

 private:
  static void OnComplete(void* self);

  __natsSubscription* sub_ = nullptr;
  absl::Mutex mu_;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_ASYNC_SUBSCRIPTION_H_
