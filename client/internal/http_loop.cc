#include "client/internal/http_loop.h"

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"

namespace roomcast::client::internal {

struct HttpLoop::InFlight {
  InFlight(Id id, http::CurlEasy handle, HttpRequest req,
           std::function<void(HttpReply)> done_fn)
      : id(id),
        easy(std::move(handle)),
        body(std::move(req.body)),
        on_body(std::move(req.on_body)),
        transfer(easy.get(), Describe(req, body, on_body ? &fresh : nullptr)),
        done(std::move(done_fn)) {}

  // `fresh`: where a streamed body's bytes wait (inside libcurl) for the
  // loop to hand them over (outside it).
  static http::ClientRequest Describe(const HttpRequest& req,
                                      const std::string& body,
                                      std::string* fresh) {
    http::ClientRequest r{.method = req.method,
                          .url = req.url,
                          .headers = req.headers,
                          .connect_timeout = std::chrono::milliseconds(5000),
                          .timeout = req.timeout,
                          .user_agent = "roomcast-client/0.1",
                          .accept_encoding = "gzip"};
    if (req.method != "GET") r.body = body;
    if (fresh != nullptr) {
      r.body_sink = [fresh](absl::string_view piece) {
        fresh->append(piece.data(), piece.size());
      };
    }
    return r;
  }

  const Id id;
  http::CurlEasy easy;
  const std::string body;  // owned here: libcurl reads it in place
  std::string fresh;       // streamed bytes not yet handed over
  std::function<void(absl::string_view)> on_body;
  http::Transfer transfer;
  std::function<void(HttpReply)> done;
  int64_t sent_local_ms = 0;
};

HttpLoop::HttpLoop() : multi_(http::NewCurlMulti()) {}

HttpLoop::~HttpLoop() {
  for (auto& [id, t] : transfers_) {
    curl_multi_remove_handle(multi_.get(), t->easy.get());
  }
}

http::CurlEasy HttpLoop::TakeIdleEasy() {
  if (idle_easy_.empty()) return http::NewCurlEasy();
  http::CurlEasy easy = std::move(idle_easy_.back());
  idle_easy_.pop_back();
  return easy;
}

HttpLoop::Id HttpLoop::Fetch(HttpRequest req,
                             std::function<void(HttpReply)> done) {
  const Id id = next_id_++;
  auto t = std::make_unique<InFlight>(id, TakeIdleEasy(), std::move(req),
                                      std::move(done));
  curl_easy_setopt(t->easy.get(), CURLOPT_PRIVATE, t.get());
  t->sent_local_ms = wall_clock_.NowMs();
  curl_multi_add_handle(multi_.get(), t->easy.get());
  transfers_.emplace(id, std::move(t));
  return id;
}

void HttpLoop::CancelFetch(Id id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  // A cancelled transfer's connection is mid-response: its handle (and the
  // connection with it) goes, never back to the idle pool.
  curl_multi_remove_handle(multi_.get(), it->second->easy.get());
  transfers_.erase(it);
}

HttpLoop::Id HttpLoop::At(SteadyTime when, std::function<void()> fn) {
  const Id id = next_id_++;
  timers_.emplace(id, std::make_pair(when, std::move(fn)));
  timer_order_.emplace(when, id);
  return id;
}

HttpLoop::Id HttpLoop::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  return At(std::chrono::steady_clock::now() + delay, std::move(fn));
}

void HttpLoop::CancelTimer(Id id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = timer_order_.equal_range(it->second.first);
  for (auto o = range.first; o != range.second; ++o) {
    if (o->second == id) {
      timer_order_.erase(o);
      break;
    }
  }
  timers_.erase(it);
}

void HttpLoop::Wakeup() { curl_multi_wakeup(multi_.get()); }

void HttpLoop::Complete(Id id, CURLcode code) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;  // cancelled by an earlier callback
  std::unique_ptr<InFlight> t = std::move(it->second);
  transfers_.erase(it);
  curl_multi_remove_handle(multi_.get(), t->easy.get());
  HttpReply reply;
  if (absl::StatusOr<http::ClientReply> got = t->transfer.Finish(code);
      got.ok()) {
    static_cast<http::ClientReply&>(reply) = *std::move(got);
  } else {
    reply.error = curl_easy_strerror(code);
  }
  reply.sent_local_ms = t->sent_local_ms;
  reply.recv_local_ms = wall_clock_.NowMs();
  std::function<void(HttpReply)> done = std::move(t->done);
  http::CurlEasy easy = std::move(t->easy);
  t.reset();  // its Transfer lets go of the handle before another takes it
  idle_easy_.push_back(std::move(easy));
  done(std::move(reply));
}

void HttpLoop::RunDueTimers() {
  const SteadyTime now = std::chrono::steady_clock::now();
  // Timers added by a timer run on the next round, so a zero-delay timer
  // cannot starve I/O.
  std::vector<Id> due;
  for (auto it = timer_order_.begin(); it != timer_order_.end() && it->first <= now; ++it) {
    due.push_back(it->second);
  }
  for (Id id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier one
    std::function<void()> fn = std::move(it->second.second);
    CancelTimer(id);
    fn();
  }
}

// Until the next timer or `until`, and no later than libcurl wants to be
// called (its own timeouts), at most a second.
int HttpLoop::WaitMs(SteadyTime until) {
  SteadyTime wake = until;
  if (!timer_order_.empty()) wake = std::min(wake, timer_order_.begin()->first);
  int64_t wait_ms = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(
             wake - std::chrono::steady_clock::now())
                 .count() +
             1);
  long curl_ms = -1;
  curl_multi_timeout(multi_.get(), &curl_ms);
  if (curl_ms >= 0) wait_ms = std::min<int64_t>(wait_ms, curl_ms);
  return static_cast<int>(std::min<int64_t>(wait_ms, 1000));
}

void HttpLoop::RunOnce(SteadyTime until) {
  curl_multi_poll(multi_.get(), nullptr, 0, WaitMs(until), nullptr);
  int running = 0;
  curl_multi_perform(multi_.get(), &running);
  // Ids, not handles: a callback may cancel another finished transfer.
  std::vector<std::pair<Id, CURLcode>> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    InFlight* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    finished.emplace_back(t->id, msg->data.result);
  }
  HandOverBodies();  // a finished transfer's last bytes before its end
  for (auto& [id, code] : finished) Complete(id, code);
  RunDueTimers();
}

void HttpLoop::HandOverBodies() {
  // Ids, not pointers: a callback may cancel any transfer, itself included.
  std::vector<Id> fed;
  for (auto& [id, t] : transfers_) {
    if (!t->fresh.empty()) fed.push_back(id);
  }
  for (Id id : fed) {
    auto it = transfers_.find(id);
    if (it == transfers_.end()) continue;
    std::string piece;
    piece.swap(it->second->fresh);
    // Copied: the callback may cancel this transfer.
    std::function<void(absl::string_view)> fn = it->second->on_body;
    fn(piece);
  }
}

}  // namespace roomcast::client::internal
