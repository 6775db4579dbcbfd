// The libcurl Uploader: the publisher's PUTs to the origin, on the shared
// libcurl layer (http/curl.h).
//
// Keep-alive: CurlUploader keeps a pool of CURL easy handles; a call borrows
// one and gives it back, so sequential calls reuse one TCP connection and
// concurrent calls use one connection each. Every attempt is bounded by
// connect_timeout and request_timeout, clipped to what is left of the
// call's budget (max_total); the moving bound (SetDeadline, SetValidUntil)
// refuses a start and aborts a running attempt once it passes, read as it
// is then (a lease renewed meanwhile lets a big upload finish).
// Retryable failures (connect errors, resets, timeouts, 5xx but 501, 408,
// 429) are retried after a full-jitter backoff, or after Retry-After when
// the server sends one; 4xx never are. See uploader.h for the codes.
//
//   CurlUploader up({.base_url = "http://127.0.0.1:8080",
//                    .write_secret = secret});
//   ROOMCAST_RETURN_IF_ERROR(up.Put(path, bytes, "application/x-protobuf"));
#ifndef ROOMCAST_PUBLISHER_CURL_UPLOADER_H_
#define ROOMCAST_PUBLISHER_CURL_UPLOADER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/backoff.h"
#include "http/curl.h"
#include "publisher/uploader.h"

namespace roomcast::publisher {

struct UploadOptions {
  // "http://127.0.0.1:8080"; a path such as "/v1/rooms/..." is appended.
  std::string base_url;
  // Sent as "Authorization: Bearer <write_secret>" on every PUT. Empty: no
  // Authorization header.
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
  // A live push (Post): its one attempt, connect included. Short: a push
  // that fails is sent again by the next one.
  std::chrono::milliseconds live_timeout{2000};
};

class CurlUploader : public Uploader {
 public:
  explicit CurlUploader(UploadOptions options);
  ~CurlUploader() override;
  CurlUploader(const CurlUploader&) = delete;
  CurlUploader& operator=(const CurlUploader&) = delete;

  absl::Status Put(absl::string_view path, absl::string_view body,
                   absl::string_view content_type) override;
  void SetDeadline(std::chrono::steady_clock::time_point deadline) override;
  void SetValidUntil(std::chrono::steady_clock::time_point valid_until) override;
  absl::StatusOr<OriginReply> PutWithHeaders(absl::string_view path, absl::string_view body,
                                             absl::string_view content_type,
                                             const std::vector<std::string>& headers) override;
  absl::StatusOr<OriginReply> Get(absl::string_view path) override;
  absl::StatusOr<OriginReply> Post(absl::string_view path, absl::string_view body,
                                   absl::string_view content_type) override;

  // Attempts made by Puts so far (first tries and retries); for metrics.
  uint64_t attempts() const { return attempts_.load(); }

 private:
  // The request every attempt of one Put sends: its bytes read in place.
  http::ClientRequest PutRequest(absl::string_view path, absl::string_view body,
                                 absl::string_view content_type) const;
  std::unique_ptr<base::BackOffStrategy> NewBackOff() const;
  // Sends `request` until it gets a non-retryable answer, the budget is
  // spent or the shutdown deadline passes (Put's retry loop).
  absl::StatusOr<http::ClientReply> Send(const http::ClientRequest& request);
  http::CurlEasy Borrow();
  void Return(http::CurlEasy easy);
  // One attempt of `request` on a pooled handle, within `call_deadline`
  // and the moving bound.
  absl::StatusOr<http::ClientReply> Perform(
      http::ClientRequest request,
      std::chrono::steady_clock::time_point call_deadline);
  // The wait before the next attempt after `got`, or (as the error's
  // message) why there is none.
  absl::StatusOr<std::chrono::milliseconds> NextWait(
      const absl::StatusOr<http::ClientReply>& got,
      base::BackOffStrategy& backoff,
      std::chrono::steady_clock::time_point call_deadline) const;
  // Stores min(shutdown, valid until) where transfers read it.
  void MoveDeadline(std::chrono::steady_clock::time_point shutdown,
                    std::chrono::steady_clock::time_point valid_until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The earlier of a call's own deadline and the shutdown deadline.
  std::chrono::steady_clock::time_point Deadline(
      std::chrono::steady_clock::time_point call_deadline) const;
  // Sleeps until `wake`, or less if the shutdown deadline comes first.
  void SleepUntil(std::chrono::steady_clock::time_point wake);

  const UploadOptions options_;
  // The earlier of SetDeadline's and SetValidUntil's (steady_clock, ns),
  // read by every transfer; the two are kept under mu_.
  std::atomic<int64_t> shutdown_deadline_ns_;
  std::atomic<uint64_t> attempts_{0};
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point shutdown_ ABSL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point valid_until_ ABSL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point::max();
  absl::CondVar wake_;  // signalled by SetDeadline
  std::vector<http::CurlEasy> idle_ ABSL_GUARDED_BY(mu_);
  // Live pushes' own keep-alive handle, outside the pool: one connection
  // however many rooms push.
  absl::Mutex live_mu_;
  http::CurlEasy live_easy_ ABSL_GUARDED_BY(live_mu_);
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_CURL_UPLOADER_H_
