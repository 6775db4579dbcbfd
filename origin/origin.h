// roomcast-origin: the HTTP origin that CDNs pull from (DESIGN §4).
//
// Serves immutable objects so every cache keeps them forever, never lets a
// cache keep what can still change, and holds requests for data about to
// exist so a CDN in front collapses them into about one origin request per
// edge. Writes (PUT) come from the publisher with its secret.
//
//   ROOMCAST_ASSIGN_OR_RETURN(auto origin, Origin::Open(options));
//   http::Server server(http_options, [&](http::Request& r) {
//     return origin->Handle(r);
//   });
#ifndef ROOMCAST_ORIGIN_ORIGIN_H_
#define ROOMCAST_ORIGIN_ORIGIN_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "http/metrics.h"
#include "http/server.h"
#include "origin/holds.h"
#include "origin/store.h"
#include "segmenter/naming.h"

namespace roomcast::origin {

struct OriginOptions {
  std::string data_dir;
  std::string write_secret;  // the publisher's bearer secret for PUT
  // Checks a viewer's bearer token for a peer object of `room`; returns the
  // user id it speaks for (kUnauthenticated / kPermissionDenied otherwise).
  // Unset: every peer read is refused.
  std::function<absl::StatusOr<std::string>(absl::string_view token,
                                            absl::string_view room)>
      verify_viewer;
  // The longest a request is held for an object about to exist. Below
  // nginx's proxy_cache_lock_timeout (5 s) so the CDN's lock never expires
  // into a herd.
  std::chrono::milliseconds max_hold{3000};
  int manifest_max_age_s = 1;
  int64_t default_retention_s = 86400;
  bool sync = true;  // fsync every write before acknowledging it
};

// The Cache-Control values of DESIGN §4.
inline constexpr char kImmutable[] = "public, max-age=31536000, immutable";
inline constexpr char kNotYet[] = "public, max-age=1";
inline constexpr char kNeverWillBe[] = "public, max-age=60";
inline constexpr char kPrivate[] = "private, no-store";
inline constexpr char kNoStore[] = "no-store";

class Origin {
 public:
  static absl::StatusOr<std::unique_ptr<Origin>> Open(OriginOptions options);

  // The whole HTTP surface: GET/HEAD/OPTIONS of objects, PUT from the
  // publisher, /healthz and /metrics.
  boost::asio::awaitable<http::Response> Handle(http::Request& req);

  // Answers every held request now (on shutdown).
  void ReleaseHolds() { holds_.WakeAll(); }
  // Removes expired objects; returns how many.
  absl::StatusOr<size_t> SweepExpired();

  http::Metrics& metrics() { return metrics_; }

 private:
  explicit Origin(OriginOptions options, std::unique_ptr<Store> store);
  absl::Status LoadState();

  boost::asio::awaitable<http::Response> Get(http::Request& req,
                                             const segmenter::ObjectRef& ref,
                                             absl::string_view query);
  boost::asio::awaitable<http::Response> GetManifest(
      http::Request& req, const segmenter::ObjectRef& ref, absl::string_view query);
  boost::asio::awaitable<http::Response> GetBucket(http::Request& req,
                                                   const segmenter::ObjectRef& ref);
  http::Response Put(http::Request& req, const segmenter::ObjectRef& ref);
  http::Response PutWatermark(http::Request& req, const segmenter::ObjectRef& ref);
  absl::Status CheckBody(const segmenter::ObjectRef& ref, absl::string_view body,
                         int64_t* retention_s);

  // Serves a stored object (or its .json rendition) with its headers.
  http::Response Serve(const http::Request& req, const segmenter::ObjectRef& ref,
                       const StoredObject& obj, const char* cache_control);
  http::Response NotFound(const http::Request& req, const char* cache_control,
                          absl::string_view detail);
  // 500 for bytes that fail their digest (counted, logged), else 503.
  http::Response StoreFailure(const http::Request& req, const absl::Status& status);
  http::Response Finish(const http::Request& req, http::Response res,
                        std::optional<segmenter::ObjectClass> cls);
  // roomcast_origin_requests_total{class, status}: registered on first use,
  // then found without a lock (Finish runs on every request).
  http::Counter& RequestCounter(std::optional<segmenter::ObjectClass> cls,
                                int status);

  struct RoomInfo {
    RoomMeta meta;
    int64_t watermark_ms = 0;
  };
  std::optional<RoomMeta> FindRoom(const std::string& room) const;
  int64_t WatermarkOf(const std::string& publisher) const;
  bool Authorized(const http::Request& req) const;
  // nullopt if the request's token speaks for the peer object's user; else
  // the 401/403 answer.
  std::optional<http::Response> CheckPeerToken(const http::Request& req,
                                               const segmenter::ObjectRef& ref);

  OriginOptions options_;
  std::unique_ptr<Store> store_;
  HoldRegistry holds_;
  http::Metrics metrics_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, RoomMeta> rooms_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> watermarks_ ABSL_GUARDED_BY(mu_);

  // Hot-path metric handles. Request counters by [class + 1 (0: none)]
  // [status - 100].
  static constexpr size_t kClassSlots = 8;
  std::array<std::array<std::atomic<http::Counter*>, 500>, kClassSlots>
      request_counters_{};
  http::Gauge& held_now_;
  http::Histogram& wake_delay_;
  http::Counter& bytes_out_;
  http::Counter& conflicts_;
  http::Counter& objects_stored_;
  http::Counter& corrupt_;
};

int64_t NowMs();

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_ORIGIN_H_
