// A single-threaded event loop over libcurl's multi interface: many GETs in
// flight at once plus timers, so one thread can follow many rooms.
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
#include <optional>
#include <string>
#include <vector>

namespace roomcast::client::internal {

using SteadyTime = std::chrono::steady_clock::time_point;

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{15000};
  std::string method = "GET";  // GET, or POST/PUT with `body`
  std::string body;
};

struct HttpReply {
  long status = 0;    // 0: no answer (see error)
  std::string error;  // transport failure, for humans
  std::string body;   // with any Content-Encoding undone
  std::string etag;
  std::string cache_control;
  std::string content_encoding;
  std::optional<int64_t> date_ms;  // the Date header, unix ms
  int64_t age_s = 0;               // the Age header
  std::optional<int64_t> retry_after_s;
  int64_t sent_local_ms = 0;  // wall clock when sent and when answered
  int64_t recv_local_ms = 0;

  // max-age of Cache-Control, or -1.
  int64_t MaxAge() const;
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

  size_t in_flight() const { return transfers_.size(); }
  size_t timers() const { return timers_.size(); }

 private:
  struct Transfer;
  void Complete(Id id, int code);
  void RunDueTimers();

  void* multi_;  // CURLM*
  Id next_id_ = 1;
  std::map<Id, std::unique_ptr<Transfer>> transfers_;
  std::vector<void*> idle_easy_;  // reused handles (CURL*)
  std::multimap<SteadyTime, Id> timer_order_;
  std::map<Id, std::pair<SteadyTime, std::function<void()>>> timers_;
};

// Wall clock, unix ms.
int64_t WallMs();

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_HTTP_LOOP_H_
