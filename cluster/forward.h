// Requests handed to whichever process serves a subject, over core NATS
// (DESIGN §13: any publisher takes any room's writes and hands them to the
// shard's owner; a client is never told to go elsewhere).
//
// A Responder serves a subject in a queue group (one member answers each
// request); a Requester sends requests and gets each answer through a
// callback, with no thread per request: one reply subscription on an inbox
// of its own, a table of pending requests, and a reaper that fails what
// timed out. Answers are kUnavailable when nobody serves the subject (NATS'
// "no responders") or no answer came in time: the caller answers 503 with
// Retry-After.
//
//   auto server = Responder::Serve(js, "rcfwd.s07", "owners",
//       [](std::string req, Responder::Reply reply) { reply(Handle(req)); });
//   auto client = Requester::Open(js);
//   (*client)->Request("rcfwd.s07", bytes, 5s, [](absl::StatusOr<std::string> r) {...});
#ifndef ROOMCAST_CLUSTER_FORWARD_H_
#define ROOMCAST_CLUSTER_FORWARD_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cluster/async_subscription.h"
#include "cluster/jetstream.h"

struct __natsSubscription;
struct __natsMsg;

namespace roomcast::cluster {

class Responder {
 public:
  // Sends the answer to one request; call once, from any thread.
  using Reply = std::function<void(std::string answer)>;
  using Handler = std::function<void(std::string request, Reply reply)>;

  // Serves `subject` (in queue group `queue`) until destroyed; `handler`
  // runs on libnats' delivery thread and must not block.
  static absl::StatusOr<std::unique_ptr<Responder>> Serve(JetStream& js, std::string subject,
                                                          std::string queue, Handler handler);
  // Stops taking requests and waits (bounded) for the delivery of those
  // already taken.
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

 private:
  Responder(JetStream& js, Handler handler) : js_(js), handler_(std::move(handler)) {}
  static void OnMessage(__natsConnection*, __natsSubscription*, __natsMsg* msg, void* self);

  JetStream& js_;
  Handler handler_;
  AsyncSubscription sub_;  // closed in the destructor, before handler_ goes
};

class Requester {
 public:
  using Done = std::function<void(absl::StatusOr<std::string>)>;

  static absl::StatusOr<std::unique_ptr<Requester>> Open(JetStream& js);
  // Fails every pending request (kUnavailable), then stops.
  ~Requester();
  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;

  // `done` runs once, on a libnats thread or the reaper's: the answer, or
  // kUnavailable (no responder, no answer within `timeout`, not sent), or
  // kOutOfRange (larger than the connection's maximum payload).
  void Request(absl::string_view subject, absl::string_view request,
               std::chrono::milliseconds timeout, Done done);

  size_t pending();

 private:
  explicit Requester(JetStream& js) : js_(js) {}
  static void OnReply(__natsConnection*, __natsSubscription*, __natsMsg* msg, void* self);
  // Takes the pending request `id` out of the table (null if gone).
  Done Take(uint64_t id);
  void Reap();

  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  JetStream& js_;
  std::string inbox_;  // replies come to "<inbox_>.<id>"
  AsyncSubscription sub_;
  absl::Mutex mu_;
  std::map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace roomcast::cluster

#endif  // ROOMCAST_CLUSTER_FORWARD_H_
