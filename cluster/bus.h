// Core NATS publish/subscribe on a JetStream's connection (DESIGN §13):
// what is not stored, only heard by whoever listens now. Origins hear the
// RePublish notices of new objects ("rcnote.>") and relay live appends to
// each other here. At most once: a subscriber that is disconnected misses
// what was sent meanwhile.
//
//   Bus bus(*js);
//   auto sub = bus.Subscribe("rcnote.>", [](const BusMessage& m) { ... });
//   bus.Publish("rclive.room1", bytes, {{"Rc-Origin", "o1"}});
//   sub->reset();  // unsubscribes; no callback runs after it returns
//
// Callbacks run on one libnats thread per subscription, in arrival order;
// they must not block long (every later message waits).
#ifndef ROOMCAST_CLUSTER_BUS_H_
#define ROOMCAST_CLUSTER_BUS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cluster/async_subscription.h"
#include "cluster/jetstream.h"

struct __natsConnection;
struct __natsSubscription;
struct __natsMsg;

namespace roomcast::cluster {

struct BusMessage {
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
};

class Bus {
 public:
  using Callback = std::function<void(const BusMessage&)>;

  // Unsubscribes on destruction, after any callback in progress returned.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class Bus;
    explicit Subscription(Callback cb) : cb_(std::move(cb)) {}
    static void OnMessage(__natsConnection*, __natsSubscription*, __natsMsg* msg,
                          void* closure);
    Callback cb_;
    AsyncSubscription sub_;
  };

  // `js` must outlive the Bus and its subscriptions.
  explicit Bus(JetStream& js) : js_(js) {}

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const std::string& subject,
                                                          Callback cb);
  absl::Status Publish(const std::string& subject, absl::string_view data,
                       const std::map<std::string, std::string>& headers = {});

 private:
  JetStream& js_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_BUS_H_
