// A single-threaded event loop over libcurl's multi interface (through the
// libcurl layer, http/curl.h): many GETs in flight at once plus timers, so
// one thread can follow many rooms.
//
// Callbacks run on the thread that calls RunOnce, never inside libcurl. A
// callback may start or cancel fetches and timers.
//
//   HttpLoop loop;
//   loop.Fetch({.url = url}, [](HttpReply r) { ... });
//   loop.After(200ms, [] { ... });
//   while (!done) loop.RunOnce(deadline);
#ifndef ROOMCAST_CLIENT_INTERNAL_HTTP_LOOP_H_
#define ROOMCAST_CLIENT_INTERNAL_HTTP_LOOP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "http/client_reply.h"
#include "http/curl.h"

namespace roomcast::client::internal {

using SteadyTime = std::chrono::steady_clock::time_point;

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{15000};
  std::string method = "GET";  // GET, or POST/PUT with `body`
  std::string body;
  // Set: a 2xx reply's body (decoded) is handed over here in pieces as it
  // arrives, on the loop's thread, each piece before `done` runs, and the
  // reply's body stays empty: a streamed segment (DESIGN §10) is read as it
  // grows. Other statuses' bodies go into the reply as usual.
  std::function<void(absl::string_view)> on_body;
};

// What came back, with when it was asked and answered. The body has any
// Content-Encoding undone.
struct HttpReply : http::ClientReply {
  std::string error;  // status 0: the transport failure, for humans
  int64_t sent_local_ms = 0;  // wall clock when sent and when answered
  int64_t recv_local_ms = 0;
};

class HttpLoop {
 public:
  using Id = uint64_t;

  HttpLoop();
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  // Starts a request (Accept-Encoding: gzip); `done` runs once with the answer
  // unless the fetch is cancelled first.
  Id Fetch(HttpRequest req, std::function<void(HttpReply)> done);
  void CancelFetch(Id id);

  Id At(SteadyTime when, std::function<void()> fn);
  Id After(std::chrono::milliseconds delay, std::function<void()> fn);
  void CancelTimer(Id id);

  // Waits for I/O or the next timer (at most until `until`), then runs every
  // completion and due timer.
  void RunOnce(SteadyTime until);
  // Makes a RunOnce waiting on another thread return early.
  void Wakeup();

  // The wall clock replies are stamped with (sent_local_ms, recv_local_ms).
  const base::Clock& wall_clock() const { return wall_clock_; }
  size_t in_flight() const { return transfers_.size(); }
  size_t timers() const { return timers_.size(); }

 private:
  struct InFlight;
  http::CurlEasy TakeIdleEasy();
  void Complete(Id id, CURLcode code);
  void HandOverBodies();
  void RunDueTimers();
  int WaitMs(SteadyTime until);

  base::SystemClock wall_clock_;
  http::CurlMulti multi_;
  Id next_id_ = 1;
  std::map<Id, std::unique_ptr<InFlight>> transfers_;
  std::vector<http::CurlEasy> idle_easy_;  // reused: they keep connections
  std::multimap<SteadyTime, Id> timer_order_;
  std::map<Id, std::pair<SteadyTime, std::function<void()>>> timers_;
};

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_HTTP_LOOP_H_
