#include "publisher/curl_uploader.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"

namespace roomcast::publisher {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t ToNs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
      .count();
}

// The upload error contract (uploader.h): what an HTTP answer means for an
// object the publisher is trying to store.
absl::Status FromHttp(const http::ClientReply& r, absl::string_view what) {
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

std::string NormalizeBase(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

}  // namespace

CurlUploader::CurlUploader(UploadOptions options)
    : options_([&] {
        options.base_url = NormalizeBase(std::move(options.base_url));
        return std::move(options);
      }()),
      shutdown_deadline_ns_(ToNs(Clock::time_point::max())) {}

CurlUploader::~CurlUploader() = default;

void CurlUploader::SetDeadline(Clock::time_point deadline) {
  absl::MutexLock lock(&mu_);
  shutdown_ = deadline;
  MoveDeadline(shutdown_, valid_until_);
}

void CurlUploader::SetValidUntil(Clock::time_point valid_until) {
  absl::MutexLock lock(&mu_);
  valid_until_ = valid_until;
  MoveDeadline(shutdown_, valid_until_);
}

void CurlUploader::MoveDeadline(Clock::time_point shutdown, Clock::time_point valid_until) {
  shutdown_deadline_ns_.store(ToNs(std::min(shutdown, valid_until)));
  wake_.SignalAll();
}

Clock::time_point CurlUploader::Deadline(Clock::time_point call) const {
  const Clock::time_point shutdown(
      std::chrono::nanoseconds(shutdown_deadline_ns_.load()));
  return std::min(call, shutdown);
}

http::CurlEasy CurlUploader::Borrow() {
  absl::MutexLock lock(&mu_);
  if (idle_.empty()) return http::NewCurlEasy();
  http::CurlEasy easy = std::move(idle_.back());
  idle_.pop_back();
  return easy;
}

void CurlUploader::Return(http::CurlEasy easy) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(easy));
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

absl::StatusOr<http::ClientReply> CurlUploader::Perform(
    http::ClientRequest request, Clock::time_point call_deadline) {
  if (Clock::now() >= Deadline(call_deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat(request.method, " ", request.url, ": no time left"));
  }
  // libcurl's own timeouts come from the call's budget only. The moving
  // bound (shutdown, lease) is not frozen into them when the attempt
  // starts: the transfer reads it through its progress callback, so a lease
  // renewed while a big object is on its way lets it finish, and one that
  // lapses aborts it within about a second.
  const milliseconds left =
      std::chrono::duration_cast<milliseconds>(call_deadline - Clock::now());
  http::CurlEasy easy = Borrow();
  if (easy == nullptr) return absl::InternalError("curl_easy_init failed");
  request.connect_timeout = std::min(options_.connect_timeout, left);
  request.timeout = std::min(options_.request_timeout, left);
  absl::StatusOr<http::ClientReply> got =
      http::Transfer(easy.get(), request).Perform();
  Return(std::move(easy));
  return got;
}

absl::StatusOr<milliseconds> CurlUploader::NextWait(
    const absl::StatusOr<http::ClientReply>& got,
    base::BackOffStrategy& backoff, Clock::time_point call_deadline) const {
  milliseconds wait = backoff.NextBackOff();
  if (got.ok()) {
    if (std::optional<milliseconds> asked = got->RetryAfter()) {
      if (*asked > options_.max_retry_after) {
        return absl::OutOfRangeError("Retry-After beyond max_retry_after");
      }
      wait = *asked;
    }
  }
  if (Clock::now() + wait >= Deadline(call_deadline)) {
    return absl::OutOfRangeError("retry budget spent");
  }
  return wait;
}

http::ClientRequest CurlUploader::PutRequest(
    absl::string_view path, absl::string_view body,
    absl::string_view content_type) const {
  http::ClientRequest request{
      .method = "PUT",
      .url = absl::StrCat(options_.base_url, path),
      .headers = {absl::StrCat("Content-Type: ", content_type)},
      .body = body,
      .user_agent = options_.user_agent,
      .shutdown_deadline_ns = &shutdown_deadline_ns_};
  if (!options_.write_secret.empty()) {
    request.headers.push_back(
        absl::StrCat("Authorization: Bearer ", options_.write_secret));
  }
  return request;
}

std::unique_ptr<base::BackOffStrategy> CurlUploader::NewBackOff() const {
  if (options_.backoff_factory) return options_.backoff_factory();
  return std::make_unique<base::JitteredExponentialBackOff>(
      options_.backoff_base, options_.backoff_max);
}

absl::Status CurlUploader::Put(absl::string_view path, absl::string_view body,
                               absl::string_view content_type) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload path must start with '/': ", path));
  }
  if (content_type.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError("content type contains a line break");
  }
  absl::StatusOr<http::ClientReply> got = Send(PutRequest(path, body, content_type));
  if (!got.ok()) return got.status();
  return FromHttp(*got, absl::StrCat("PUT ", options_.base_url, path));
}

absl::StatusOr<http::ClientReply> CurlUploader::Send(const http::ClientRequest& request) {
  const Clock::time_point call_deadline = Clock::now() + options_.max_total;
  const std::string what = absl::StrCat(request.method, " ", request.url);
  std::unique_ptr<base::BackOffStrategy> backoff = NewBackOff();
  for (int n = 1;; ++n) {
    attempts_.fetch_add(1);
    absl::StatusOr<http::ClientReply> got =
        Perform(request, call_deadline);
    const absl::Status s = got.ok() ? FromHttp(*got, what) : got.status();
    if (!IsRetryableUploadError(s)) return got;
    absl::StatusOr<milliseconds> wait = NextWait(got, *backoff, call_deadline);
    if (!wait.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), "; gave up after ", n,
                                       " attempts: ", wait.status().message()));
    }
    SleepUntil(Clock::now() + *wait);
  }
}

absl::StatusOr<OriginReply> CurlUploader::PutWithHeaders(
    absl::string_view path, absl::string_view body, absl::string_view content_type,
    const std::vector<std::string>& headers) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("upload path must start with '/': ", path));
  }
  for (const std::string& h : headers) {
    if (h.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError("a header contains a line break");
    }
  }
  http::ClientRequest request = PutRequest(path, body, content_type);
  request.headers.insert(request.headers.end(), headers.begin(), headers.end());
  ROOMCAST_ASSIGN_OR_RETURN(http::ClientReply got, Send(request));
  return OriginReply{.status = got.status, .body = std::move(got.body)};
}

absl::StatusOr<OriginReply> CurlUploader::Get(absl::string_view path) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("a path must start with '/': ", path));
  }
  http::ClientRequest request{.method = "GET",
                              .url = absl::StrCat(options_.base_url, path),
                              .user_agent = options_.user_agent,
                              .shutdown_deadline_ns = &shutdown_deadline_ns_};
  if (!options_.write_secret.empty()) {
    request.headers.push_back(absl::StrCat("Authorization: Bearer ", options_.write_secret));
  }
  ROOMCAST_ASSIGN_OR_RETURN(http::ClientReply got, Send(request));
  return OriginReply{.status = got.status, .body = std::move(got.body)};
}

absl::StatusOr<OriginReply> CurlUploader::Post(absl::string_view path, absl::string_view body,
                                               absl::string_view content_type) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("a path must start with '/': ", path));
  }
  if (content_type.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError("content type contains a line break");
  }
  http::ClientRequest request = PutRequest(path, body, content_type);
  request.method = "POST";
  request.connect_timeout = std::min(options_.connect_timeout, options_.live_timeout);
  request.timeout = options_.live_timeout;
  absl::MutexLock lock(&live_mu_);
  if (live_easy_ == nullptr) live_easy_ = http::NewCurlEasy();
  if (live_easy_ == nullptr) return absl::InternalError("curl_easy_init failed");
  ROOMCAST_ASSIGN_OR_RETURN(http::ClientReply got,
                            http::Transfer(live_easy_.get(), request).Perform());
  return OriginReply{.status = got.status, .body = std::move(got.body)};
}

}  // namespace roomcast::publisher
