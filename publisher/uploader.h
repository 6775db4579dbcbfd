// The publisher's one way out: PUT an object on the origin.
//
// The publisher depends on this interface only; CurlUploader
// (curl_uploader.h) is the real one, tests use a fake. Implementations own
// retries: a call returns once the object is stored, or once retrying is
// pointless or over its own budget. The caller owns the bytes for the whole
// call, so every retry sends the same bytes (re-publishing after a crash
// yields byte-identical objects).
//
//   absl::Status s = uploader.Put(SegmentPath(room, d, k), obj.bytes,
//                                 "application/x-protobuf");
//   // OK: stored (or already stored with these bytes: an identical PUT is
//   //     a no-op 200 at the origin).
//   // kAlreadyExists: 409, the origin holds other bytes at an immutable
//   //     URL. A bug alarm; never retried.
//   // kUnavailable / kDeadlineExceeded (IsRetryableUploadError): gave up
//   //     for now (connect error, reset, timeout, 5xx, 429, budget spent,
//   //     shutdown deadline); keep the object queued, try again later.
//   // kInvalidArgument (400, 404, 405, 413, ...), kUnauthenticated (401),
//   //     kPermissionDenied (403), kFailedPrecondition (anything else
//   //     unexpected): the origin refused the request; not retried.
#ifndef ROOMCAST_PUBLISHER_UPLOADER_H_
#define ROOMCAST_PUBLISHER_UPLOADER_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roomcast::publisher {

// An answer of the origin, whatever its status.
struct OriginReply {
  int status = 0;
  std::string body;
};

class Uploader {
 public:
  virtual ~Uploader() = default;

  // PUTs `body` at `path` (origin-relative, starting "/v1/", as made by
  // segmenter/naming.h) with `content_type`. `body` is read only during the
  // call. Thread-safe. (absl::string_view so a std::string, a slice of a
  // bigger buffer or a literal all bind without a copy.)
  virtual absl::Status Put(absl::string_view path, absl::string_view body,
                           absl::string_view content_type) = 0;

  // Bounds every Put, running or future, by `deadline`: no new attempt or
  // backoff wait runs past it, a transfer still running then is aborted
  // (within about a second), and such Puts return kDeadlineExceeded. The
  // publisher calls it on SIGTERM to bound flushing; time_point::max()
  // lifts the bound. Optional: fakes that never block may ignore it.
  virtual void SetDeadline(std::chrono::steady_clock::time_point deadline) {}

  // A second bound of the same kind, moved forward as often as the caller
  // likes: a cluster engine's lease (DESIGN §13). Once it has passed no
  // request starts, and one running is aborted, so an owner whose lease may
  // have moved writes nothing more to the origin; the new owner's objects
  // and watermark are never overtaken by an older term's. The effective
  // bound is the earlier of this and SetDeadline's. Optional, as above.
  virtual void SetValidUntil(std::chrono::steady_clock::time_point valid_until) {}

  // A takedown PUT (DESIGN §11): as Put, with `headers` ("Name: value",
  // the Roomcast-Takedown-* ones) added, and the origin's answer returned
  // whatever its status (409 and 404 mean something here). Errors are
  // transport failures and retryable answers (5xx, 429) once retrying is
  // over, as for Put.
  virtual absl::StatusOr<OriginReply> PutWithHeaders(absl::string_view path,
                                                     absl::string_view body,
                                                     absl::string_view content_type,
                                                     const std::vector<std::string>& headers) {
    return absl::UnimplementedError("this uploader has no takedown PUT");
  }
  // GETs `path` with the publisher's credentials (the object as stored:
  // identity encoding). The answer whatever its status; errors as above.
  virtual absl::StatusOr<OriginReply> Get(absl::string_view path) {
    return absl::UnimplementedError("this uploader cannot GET");
  }
  // A live push (DESIGN §10, POST /v1/live): one attempt within a short
  // budget, on one keep-alive connection of its own (pushes are sent one at
  // a time, and never wait behind a PUT), with the publisher's credentials.
  // The answer whatever its status; errors are transport failures only. No
  // retry loop: a push that fails is simply sent again from what the origin
  // acknowledged, so it never holds up an ack or the PUT path.
  virtual absl::StatusOr<OriginReply> Post(absl::string_view path, absl::string_view body,
                                           absl::string_view content_type) {
    return absl::UnimplementedError("this uploader cannot POST");
  }
};

// True for the codes worth retrying later (kUnavailable, kDeadlineExceeded);
// false for OK and every permanent error, kAlreadyExists included.
inline bool IsRetryableUploadError(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_UPLOADER_H_
