
#include "publisher/curl_uploader.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace roomcast::publisher {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void InitCurlOnce() {
  // curl_global_init is not thread-safe; a function-local static is.
  static const bool ok = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  (void)ok;
}

int64_t ToNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void Append(Slist& list, const std::string& line) {
  curl_slist* l = curl_slist_append(list.get(), line.c_str());
  if (l != nullptr) {
    list.release();
    list.reset(l);
  }
}

// The per-transfer state libcurl's callbacks see.
struct Transfer {
  absl::string_view body;  // PUT only
  size_t sent = 0;
  HttpResponse response;
  const std::atomic<int64_t>* shutdown_ns = nullptr;
};

size_t ReadBody(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = std::min(size * n, t->body.size() - t->sent);
  std::copy_n(t->body.data() + t->sent, len, buf);
  t->sent += len;
  return len;
}

// libcurl rewinds the body when it re-sends on a reused connection that
// turned out dead; the same bytes go out again.
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<size_t>(offset) > t->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Transfer*>(user)->response.body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    t->response.headers.clear();  // a new block, e.g. after 100 Continue
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(line.substr(0, colon)));
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  std::string& slot = t->response.headers[name];
  absl::StrAppend(&slot, slot.empty() ? "" : ", ", value);
  return size * n;
}

// Aborts a running transfer once the shutdown deadline has passed; libcurl
// calls this at least once a second, even on a silent connection.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return ToNs(Clock::now()) >= t->shutdown_ns->load() ? 1 : 0;
}

absl::Status FromCurl(CURLcode rc, absl::string_view what,
                      const char* detail) {
  const std::string msg =
      absl::StrCat(what, ": ", curl_easy_strerror(rc),
                   detail[0] != '\0' ? absl::StrCat(" (", detail, ")") : "");
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": aborted, shutdown deadline passed"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(msg);
    default:
      // Connect refused, resolve failure, reset, empty reply, partial
      // body...: the network, not the request, is at fault.
      return absl::UnavailableError(msg);
  }
}

absl::Status FromHttp(const HttpResponse& r, absl::string_view what) {
  const int c = r.status;
  if (c >= 200 && c < 300) return absl::OkStatus();
  const std::string msg = absl::StrCat(
      what, ": HTTP ", c, " ", absl::string_view(r.body).substr(0, 200));
  switch (c) {
    case 409:
      return absl::AlreadyExistsError(msg);
    case 401:
      return absl::UnauthenticatedError(msg);
    case 403:
      return absl::PermissionDeniedError(msg);
    case 408:
    case 429:
      return absl::UnavailableError(msg);
    case 400: case 404: case 405: case 411: case 413: case 414: case 415:
    case 422: case 431:
      return absl::InvalidArgumentError(msg);
    default:
      break;
  }
  if (c >= 500 && c != 501 && c != 505) return absl::UnavailableError(msg);
  return absl::FailedPreconditionError(msg);
}

// Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
std::optional<milliseconds> ParseRetryAfter(const std::string& v) {
  if (v.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(v, &seconds)) {
    return milliseconds(std::max<int64_t>(0, seconds) * 1000);
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", v, absl::UTCTimeZone(),
                      &t, &err)) {
    return milliseconds(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(t - absl::Now())));
  }
  return std::nullopt;
}

std::string NormalizeBase(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? std::string() : it->second;
}

struct CurlUploader::Handle {
  CURL* curl = curl_easy_init();
  ~Handle() { curl_easy_cleanup(curl); }
};

struct CurlUploader::Attempt {
  const char* method;       // "PUT" or "GET"
  std::string url;
  const absl::string_view* body;  // null for GET
  curl_slist* headers;
  Clock::time_point deadline;
};

CurlUploader::CurlUploader(UploadOptions options)
    : options_([&] {
        options.base_url = NormalizeBase(std::move(options.base_url));
        return std::move(options);
      }()),
      shutdown_deadline_ns_(ToNs(Clock::time_point::max())) {
  InitCurlOnce();
}

CurlUploader::~CurlUploader() = default;

void CurlUploader::SetDeadline(Clock::time_point deadline) {
  shutdown_deadline_ns_.store(ToNs(deadline));
  absl::MutexLock lock(&mu_);
  wake_.SignalAll();
}

Clock::time_point CurlUploader::Deadline(Clock::time_point call) const {
  const Clock::time_point shutdown(
      std::chrono::nanoseconds(shutdown_deadline_ns_.load()));
  return std::min(call, shutdown);
}

std::unique_ptr<CurlUploader::Handle> CurlUploader::Borrow() {
  absl::MutexLock lock(&mu_);
  if (idle_.empty()) return std::make_unique<Handle>();
  std::unique_ptr<Handle> h = std::move(idle_.back());
  idle_.pop_back();
  return h;
}

void CurlUploader::Return(std::unique_ptr<Handle> h) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(h));
}

void CurlUploader::SleepUntil(Clock::time_point wake) {
  absl::MutexLock lock(&mu_);
  for (;;) {
    const Clock::time_point until = std::min(wake, Deadline(wake));
    const Clock::time_point now = Clock::now();
    if (now >= until) return;
    wake_.WaitWithTimeout(&mu_, absl::FromChrono(until - now));
  }
}

absl::StatusOr<HttpResponse> CurlUploader::Perform(const Attempt& a) {
  const std::string what = absl::StrCat(a.method, " ", a.url);
  const milliseconds left =
      std::chrono::duration_cast<milliseconds>(a.deadline - Clock::now());
  if (left.count() <= 0) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": no time left"));
  }
  std::unique_ptr<Handle> h = Borrow();
  if (h->curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* c = h->curl;
  curl_easy_reset(c);  // keeps the connection and DNS caches
  Transfer t;
  t.shutdown_ns = &shutdown_deadline_ns_;
  char err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, a.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(options_.connect_timeout, left)
                                         .count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::min(options_.request_timeout, left)
                                         .count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, a.headers);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (a.body != nullptr) {
    t.body = *a.body;
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);  // PUT, Content-Length below
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadBody);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &SeekBody);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(t.body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  const CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);  // `err` dies here
  Return(std::move(h));
  if (rc != CURLE_OK) return FromCurl(rc, what, err);
  t.response.status = static_cast<int>(code);
  return std::move(t.response);
}

absl::Status CurlUploader::Put(absl::string_view path, absl::string_view body,
                               absl::string_view content_type) {
  const Clock::time_point call_deadline = Clock::now() + options_.max_total;
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload path must start with '/': ", path));
  }
  if (content_type.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError("content type contains a line break");
  }
  Slist headers;
  Append(headers, absl::StrCat("Content-Type: ", content_type));
  if (!options_.write_secret.empty()) {
    Append(headers, absl::StrCat("Authorization: Bearer ",
                                 options_.write_secret));
  }
  Append(headers, "Expect:");  // no 100-continue round trip
  std::unique_ptr<base::BackOffStrategy> backoff =
      options_.backoff_factory
          ? options_.backoff_factory()
          : std::make_unique<base::JitteredExponentialBackOff>(
                options_.backoff_base, options_.backoff_max);
  const Attempt a{"PUT", absl::StrCat(options_.base_url, path), &body,
                  headers.get(), {}};
  const std::string what = absl::StrCat("PUT ", a.url);
  for (int n = 1;; ++n) {
    Attempt attempt = a;
    attempt.deadline = Deadline(call_deadline);
    attempts_.fetch_add(1);
    absl::StatusOr<HttpResponse> r = Perform(attempt);
    const absl::Status s = r.ok() ? FromHttp(*r, what) : r.status();
    if (!IsRetryableUploadError(s)) return s;
    auto give_up = [&](absl::string_view why) {
      return absl::Status(s.code(), absl::StrCat(s.message(), "; gave up after ",
                                                 n, " attempts: ", why));
    };
    milliseconds wait = backoff->NextBackOff();
    if (r.ok()) {
      if (auto ra = ParseRetryAfter(r->Header("retry-after"))) {
        if (*ra > options_.max_retry_after) {
          return give_up("Retry-After beyond max_retry_after");
        }
        wait = *ra;
      }
    }
    if (Clock::now() + wait >= Deadline(call_deadline)) {
      return give_up("retry budget spent");
    }
    SleepUntil(Clock::now() + wait);
  }
}

absl::StatusOr<HttpResponse> CurlUploader::Get(absl::string_view path,
                                               const HttpHeaders& headers) {
  Slist list;
  for (const auto& [name, value] : headers) {
    Append(list, absl::StrCat(name, ": ", value));
  }
  const Attempt a{"GET", absl::StrCat(options_.base_url, path), nullptr,
                  list.get(), Deadline(Clock::now() + options_.request_timeout)};
  return Perform(a);
}

}  // namespace roomcast::publisher
