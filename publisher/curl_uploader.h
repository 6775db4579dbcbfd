// The libcurl Uploader, and the one-shot GET the client library and tests
// reuse.
//
// Keep-alive: CurlUploader keeps a pool of CURL easy handles; a call borrows
// one and gives it back, so sequential calls reuse one TCP connection and
// concurrent calls use one connection each. Every attempt is bounded by
// connect_timeout and request_timeout, clipped to what is left of the
// call's budget (max_total) and of the shutdown deadline (SetDeadline).
// Retryable failures (connect errors, resets, timeouts, 5xx but 501, 408,
// 429) are retried after a full-jitter backoff, or after Retry-After when
// the server sends one; 4xx never are. See uploader.h for the codes.
//
//   CurlUploader up({.base_url = "http://127.0.0.1:8080",
//                    .write_secret = secret});
//   ROOMCAST_RETURN_IF_ERROR(up.Put(path, bytes, "application/x-protobuf"));
//   absl::StatusOr<HttpResponse> r = up.Get(path);   // no retries
#ifndef ROOMCAST_PUBLISHER_CURL_UPLOADER_H_
#define ROOMCAST_PUBLISHER_CURL_UPLOADER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/backoff.h"
#include "publisher/uploader.h"

namespace roomcast::publisher {

struct UploadOptions {
  // "http://127.0.0.1:8080"; a path such as "/v1/rooms/..." is appended.
  std::string base_url;
  // Sent as "Authorization: Bearer <write_secret>" on every PUT (never on
  // GET). Empty: no Authorization header.
  std::string write_secret;
  // One attempt: TCP connect, and the whole request/response.
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{10000};
  // The budget of one Put, all attempts and waits included. No attempt
  // starts or runs past it.
  std::chrono::milliseconds max_total{60000};
  // Full-jitter exponential backoff between attempts: the n-th wait is
  // uniform in [0, min(backoff_max, backoff_base * 2^n)].
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_max{5000};
  // A 429/503 Retry-After longer than this (or than the budget left) ends
  // the call at once with kUnavailable instead of sleeping.
  std::chrono::milliseconds max_retry_after{30000};
  // Tests inject a strategy; null: JitteredExponentialBackOff from
  // backoff_base / backoff_max. Called once per Put.
  std::function<std::unique_ptr<base::BackOffStrategy>()> backoff_factory;
  std::string user_agent = "roomcast-publisher/0.1";
};

struct HttpResponse {
  int status = 0;
  // Names lower-cased; a repeated header's values joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  // as sent: not decoded even with Content-Encoding

  // The value of header `name` (any case), or "" if absent.
  std::string Header(absl::string_view name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class CurlUploader : public Uploader {
 public:
  explicit CurlUploader(UploadOptions options);
  ~CurlUploader() override;
  CurlUploader(const CurlUploader&) = delete;
  CurlUploader& operator=(const CurlUploader&) = delete;

  absl::Status Put(absl::string_view path, absl::string_view body,
                   absl::string_view content_type) override;
  void SetDeadline(std::chrono::steady_clock::time_point deadline) override;

  // One GET of base_url + path with `headers` added (e.g. If-None-Match,
  // Accept-Encoding, a viewer's Authorization; the write secret is never
  // sent). Any HTTP status is a response; errors are transport failures
  // only: kUnavailable (connect, reset), kDeadlineExceeded (timeout).
  // No retries, no redirects, no decompression.
  absl::StatusOr<HttpResponse> Get(absl::string_view path,
                                   const HttpHeaders& headers = {});

  // Attempts made by Puts so far (first tries and retries); for metrics.
  uint64_t attempts() const { return attempts_.load(); }

 private:
  struct Handle;
  struct Attempt;

  std::unique_ptr<Handle> Borrow();
  void Return(std::unique_ptr<Handle> h);
  // One request on a pooled handle; `body` null for GET.
  absl::StatusOr<HttpResponse> Perform(const Attempt& a);
  // The earlier of a call's own deadline and the shutdown deadline.
  std::chrono::steady_clock::time_point Deadline(
      std::chrono::steady_clock::time_point call_deadline) const;
  // Sleeps until `wake`, or less if the shutdown deadline comes first.
  void SleepUntil(std::chrono::steady_clock::time_point wake);

  const UploadOptions options_;
  std::atomic<int64_t> shutdown_deadline_ns_;  // steady_clock, ns
  std::atomic<uint64_t> attempts_{0};
  absl::Mutex mu_;
  absl::CondVar wake_;  // signalled by SetDeadline
  std::vector<std::unique_ptr<Handle>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_CURL_UPLOADER_H_
