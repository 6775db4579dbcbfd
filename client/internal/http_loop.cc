#include "client/internal/http_loop.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace roomcast::client::internal {
namespace {

CURLM* M(void* p) { return static_cast<CURLM*>(p); }

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

int64_t WallMs() { return absl::ToUnixMillis(absl::Now()); }

int64_t HttpReply::MaxAge() const {
  for (absl::string_view part : absl::StrSplit(cache_control, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "max-age=")) {
      int64_t v = 0;
      if (absl::SimpleAtoi(part, &v)) return v;
    }
  }
  return -1;
}

struct HttpLoop::Transfer {
  Id id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request_body;  // owned here: libcurl reads it in place
  HttpReply reply;
  std::function<void(HttpReply)> done;

  static size_t OnBody(char* p, size_t size, size_t n, void* user) {
    static_cast<Transfer*>(user)->reply.body.append(p, size * n);
    return size * n;
  }
  static size_t OnHeader(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    absl::string_view line(p, size * n);
    if (absl::StartsWith(line, "HTTP/")) {  // a new response (after a 1xx)
      HttpReply fresh;
      fresh.sent_local_ms = t->reply.sent_local_ms;
      t->reply = std::move(fresh);
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return size * n;
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    HttpReply& r = t->reply;
    if (name == "etag") {
      r.etag = std::string(value);
    } else if (name == "cache-control") {
      r.cache_control = std::string(value);
    } else if (name == "content-encoding") {
      r.content_encoding = std::string(value);
    } else if (name == "age") {
      (void)absl::SimpleAtoi(value, &r.age_s);
    } else if (name == "retry-after") {
      int64_t s = 0;
      if (absl::SimpleAtoi(value, &s)) r.retry_after_s = s;
    } else if (name == "date") {
      std::string v(value);
      time_t t_s = curl_getdate(v.c_str(), nullptr);
      if (t_s > 0) r.date_ms = static_cast<int64_t>(t_s) * 1000;
    }
    return size * n;
  }
};

HttpLoop::HttpLoop() {
  GlobalInit();
  multi_ = curl_multi_init();
}

HttpLoop::~HttpLoop() {
  for (auto& [id, t] : transfers_) {
    curl_multi_remove_handle(M(multi_), t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
  }
  for (void* e : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(e));
  curl_multi_cleanup(M(multi_));
}

HttpLoop::Id HttpLoop::Fetch(HttpRequest req, std::function<void(HttpReply)> done) {
  auto t = std::make_unique<Transfer>();
  t->id = next_id_++;
  t->done = std::move(done);
  if (!idle_easy_.empty()) {
    t->easy = static_cast<CURL*>(idle_easy_.back());
    idle_easy_.pop_back();
    curl_easy_reset(t->easy);
  } else {
    t->easy = curl_easy_init();
  }
  CURL* h = t->easy;
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(h, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "roomcast-client/0.1");
  if (req.method != "GET") {
    t->request_body = std::move(req.body);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->request_body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(t->request_body.size()));
    t->headers = curl_slist_append(t->headers, "Expect:");
  }
  for (const std::string& hd : req.headers) t->headers = curl_slist_append(t->headers, hd.c_str());
  if (t->headers != nullptr) curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->headers);
  t->reply.sent_local_ms = WallMs();
  curl_multi_add_handle(M(multi_), h);
  const Id id = t->id;
  transfers_.emplace(id, std::move(t));
  return id;
}

void HttpLoop::CancelFetch(Id id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Transfer* t = it->second.get();
  curl_multi_remove_handle(M(multi_), t->easy);
  // A cancelled transfer's connection is mid-response; do not reuse it.
  curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
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

void HttpLoop::Wakeup() { curl_multi_wakeup(M(multi_)); }

void HttpLoop::Complete(Id id, int code) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;  // cancelled by an earlier callback
  std::unique_ptr<Transfer> t = std::move(it->second);
  transfers_.erase(it);
  curl_multi_remove_handle(M(multi_), t->easy);
  if (code == CURLE_OK) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->reply.status);
  } else {
    t->reply.status = 0;
    t->reply.error = curl_easy_strerror(static_cast<CURLcode>(code));
  }
  t->reply.recv_local_ms = WallMs();
  curl_slist_free_all(t->headers);
  idle_easy_.push_back(t->easy);
  t->done(std::move(t->reply));
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

void HttpLoop::RunOnce(SteadyTime until) {
  SteadyTime wake = until;
  if (!timer_order_.empty()) wake = std::min(wake, timer_order_.begin()->first);
  const auto now = std::chrono::steady_clock::now();
  long curl_ms = -1;
  curl_multi_timeout(M(multi_), &curl_ms);
  int64_t wait_ms = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1);
  if (curl_ms >= 0) wait_ms = std::min<int64_t>(wait_ms, curl_ms);
  wait_ms = std::min<int64_t>(wait_ms, 1000);
  curl_multi_poll(M(multi_), nullptr, 0, static_cast<int>(wait_ms), nullptr);
  int running = 0;
  curl_multi_perform(M(multi_), &running);
  // Ids, not handles: a callback may cancel another finished transfer.
  std::vector<std::pair<Id, CURLcode>> finished;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(M(multi_), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    finished.emplace_back(t->id, msg->data.result);
  }
  for (auto& [id, code] : finished) Complete(id, code);
  RunDueTimers();
}

}  // namespace roomcast::client::internal
