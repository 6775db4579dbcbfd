// The publisher's view of the origin: a place to PUT objects.
//
// The publisher depends on this interface only; CurlUploader
// (curl_uploader.h) is the real one, tests may use a fake. An upload is
// replayable: the caller owns the body buffer and a retry sends the same
// bytes, so after a crash re-publishing yields byte-identical objects.
//
//   std::unique_ptr<Uploader> up = std::make_unique<CurlUploader>(options);
//   absl::Status s = up->Put(SegmentPath("lobby", 1000, k), bytes,
//                            "application/x-protobuf");
//   if (absl::IsAlreadyExists(s)) { /* bug alarm: other bytes stored */ }
//   else if (IsRetryableUploadError(s)) { /* keep it queued, try later */ }
//
// Status codes of Put:
//   OK                  2xx: stored (or an identical object already was).
//   kAlreadyExists      409: the origin holds other bytes under this
//                       immutable path. Never retried; a bug alarm.
//   kUnavailable        retryable: connect error, reset, 5xx, 429; returned
//                       once the retry budget (max_total) is spent.
//   kDeadlineExceeded   retryable: timed out, or the shutdown deadline
//                       (SetDeadline) passed.
//   kInvalidArgument    permanent: 400, 404, 405, 413, ... (a request the
//                       origin will never accept), or a malformed URL.
//   kUnauthenticated    permanent: 401 (wrong write secret).
//   kPermissionDenied   permanent: 403.
//   kFailedPrecondition permanent: any other unexpected answer (3xx, 4xx).
#ifndef ROOMCAST_PUBLISHER_UPLOADER_H_
#define ROOMCAST_PUBLISHER_UPLOADER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "publisher/backoff.h"

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
  // A 429/503 Retry-After longer than this is treated as "not within the
  // budget": Put returns kUnavailable at once instead of sleeping.
  std::chrono::milliseconds max_retry_after{30000};
  // Tests inject a strategy (e.g. deterministic random); null: the default
  // JitteredExponentialBackOff built from backoff_base / backoff_max.
  std::function<std::unique_ptr<BackOffStrategy>()> backoff_factory;
  std::string user_agent = "roomcast-publisher/0.1";
};

class Uploader {
 public:
  virtual ~Uploader() = default;

  // PUTs `body` to base_url + path with Content-Type `content_type`.
  // Retries retryable failures with backoff until max_total. `body` is read
  // only during the call and is sent byte-identically on every attempt.
  // Thread-safe: concurrent Puts use separate connections.
  virtual absl::Status Put(absl::string_view path, absl::string_view body,
                           absl::string_view content_type) = 0;

  // Bounds every Put, running or future, by `deadline`: no new attempt or
  // backoff wait runs past it, a transfer still running then is aborted
  // (within about a second), and such Puts return kDeadlineExceeded. The
  // publisher calls it on SIGTERM to bound flushing. time_point::max()
  // lifts the bound. Fakes that never block may ignore it.
  virtual void SetDeadline(std::chrono::steady_clock::time_point deadline) {}
};

// True for the codes a caller should retry later (kUnavailable,
// kDeadlineExceeded); false for OK and every permanent error.
inline bool IsRetryableUploadError(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_UPLOADER_H_
