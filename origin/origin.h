// roomcast::origin: the HTTP origin that CDNs pull from (DESIGN §4).
//
// Serves immutable objects so every cache keeps them forever, never lets a
// cache keep what can still change, and holds requests for data about to
// exist so a CDN in front collapses them into about one origin request per
// edge. Writes (PUT) come from the publisher with its secret.
//
// Origin is the request handler alone (no sockets, no threads); a running
// origin is an OriginServer (origin/origin_server.h), which is how
// roomcast-origin and `roomcast dev` start it.
//
//   ROOMCAST_ASSIGN_OR_RETURN(auto origin, Origin::Open({.data_dir = dir}));
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
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "cluster/bus.h"
#include "http/address_limits.h"
#include "http/metrics.h"
#include "http/server.h"
#include "origin/holds.h"
#include "origin/live.h"
#include "origin/store.h"
#include "roomcast/v1/live.pb.h"
#include "segmenter/naming.h"

namespace roomcast::origin {

// Checks a viewer's bearer token for a peer object of `room`; returns the
// user id it speaks for (kUnauthenticated / kPermissionDenied otherwise).
using ViewerVerifier = std::function<absl::StatusOr<std::string>(
    absl::string_view token, absl::string_view room)>;

// Reads a file of "ID SECRET" lines (blank lines and '#' comments allowed):
// one write secret per publisher id. kInvalidArgument names a bad line.
absl::StatusOr<absl::flat_hash_map<std::string, std::string>> ReadPublisherSecrets(
    const std::string& path);

// A ViewerVerifier for the platform's HS256 viewer JWTs (auth/jwt.h), whose
// expiry is judged by `clock` (null: the system clock).
ViewerVerifier JwtViewerVerifier(std::string jwt_secret,
                                 const base::Clock* clock = nullptr);

struct OriginOptions {
  std::string data_dir;
  // DESIGN §13: nats://HOST:PORT of JetStream cluster nodes. Set: objects,
  // room metadata and watermarks live in the cluster (JetStreamStore),
  // shared with every other origin, whose writes wake this one's held
  // requests and streams; data_dir is not used. Empty: RocksDB under
  // data_dir, as ever.
  std::vector<std::string> nats_urls;
  // This origin's name in the cluster (its writes carry it).
  std::string origin_id;
  // Start-up waits this long at most for the cluster's streams.
  std::chrono::milliseconds nats_startup_timeout{30000};
  // The shared bearer secret for PUT: whoever has it may write for any
  // publisher id. Empty: only the per-publisher secrets below write.
  std::string write_secret;
  // Per-publisher secrets (id -> secret): a publisher's own secret writes
  // only its own watermark and the rooms it publishes, so one publisher
  // cannot move another's watermark or overwrite its rooms.
  absl::flat_hash_map<std::string, std::string> publisher_secrets;
  // A watermark further ahead of the origin's clock than this is refused:
  // it would turn future buckets into year-cacheable empty segments.
  int64_t max_watermark_skew_ms = 5000;
  // Requests held at once, in total and per client address; beyond, 503
  // with Retry-After.
  size_t max_held = 16384;
  size_t max_held_per_address = 4096;
  // Unset: every peer read is refused.
  ViewerVerifier verify_viewer;
  // The secret edge tokens are signed with (DESIGN §12). Empty: every read
  // of a private room is refused.
  std::string edge_secret;
  // The longest a request is held for an object about to exist. Below
  // nginx's proxy_cache_lock_timeout (5 s) so the CDN's lock never expires
  // into a herd.
  std::chrono::milliseconds max_hold{3000};
  int manifest_max_age_s = 1;
  int64_t default_retention_s = 86400;
  bool sync = true;  // fsync every write before acknowledging it
  // DESIGN §11: the caches a takedown purges its objects from (base URLs,
  // e.g. "http://127.0.0.1:8000"), and the secret their PURGE needs. No
  // bases: no purges.
  std::vector<std::string> purge_bases;
  std::string purge_secret;
  // Purges owed to one cache at most; a takedown beyond gets 503.
  size_t max_pending_purges = 100000;
  // A succeeded purge is sent once more this long after (PurgeOptions).
  std::chrono::milliseconds purge_repeat{15000};
  // Wall time: which buckets are ahead, what is past retention, when an
  // object expires. Null: the system clock. Must outlive the Origin.
  const base::Clock* clock = nullptr;
  // DESIGN §10: open buckets streamed at once at most (pushed by the
  // publisher or asked for by a reader); beyond, a new bucket is refused
  // "origin full" and its readers are held as before.
  size_t max_live_buckets = 100000;
};

class Purger;
class JetStreamStore;
struct TakedownHeaders;

class Origin {
 public:
  static absl::StatusOr<std::unique_ptr<Origin>> Open(OriginOptions options);
  ~Origin();

  // The whole HTTP surface: GET/HEAD/OPTIONS of objects, PUT from the
  // publisher, /healthz, /metrics and the embedded viewer.
  boost::asio::awaitable<http::Response> Handle(http::Request& req);
  // Before any body is read (http::ServerOptions::admit): a PUT without a
  // write secret for its path is refused, and reads carry no body.
  http::Admission Admit(const http::RequestHead& req, absl::string_view remote);

  // Answers every held request now, and ends every stream of an open
  // bucket without its last chunk (on shutdown).
  void ReleaseHolds() {
    live_.AbortAll();
    holds_.WakeAll();
  }
  // Removes objects whose retention ran out by the origin's clock; returns
  // how many.
  absl::StatusOr<size_t> SweepExpired();

  http::Metrics& metrics() { return metrics_; }

 private:
  // One request for an object path, as a route's handler takes it.
  struct Call {
    http::Request& req;
    const segmenter::ObjectRef& ref;
    absl::string_view query;
  };
  using Handler = boost::asio::awaitable<http::Response> (Origin::*)(Call);
  struct BucketGet;  // get.cc

  Origin(OriginOptions options, std::unique_ptr<ObjectStore> store);
  absl::Status LoadState();
  int64_t NowMs() const { return options_.clock->NowMs(); }

  // routes.cc: the route tables and the answers that are not objects.
  static Handler RouteFor(segmenter::ObjectClass cls,
                          boost::beast::http::verb method);
  boost::asio::awaitable<http::Response> Route(Call call);
  http::Response Healthz(const http::Request& req);
  http::Response MetricsPage(const http::Request& req);
  http::Response Finish(const http::Request& req, http::Response res,
                        std::optional<segmenter::ObjectClass> cls,
                        segmenter::Scope scope = segmenter::Scope::kPublic);
  // nullopt if a private room's object may be read with the request's edge
  // token; else the 401 (none) or 403 (expired, forged, another room's).
  std::optional<http::Response> CheckEdgeToken(const Call& call) const;
  // roomcast_origin_requests_total{class, status}: registered on first use,
  // then found without a lock (Finish runs on every request).
  http::Counter& RequestCounter(std::optional<segmenter::ObjectClass> cls,
                                int status);

  // get.cc: GET and HEAD.
  boost::asio::awaitable<http::Response> GetManifest(Call call);
  boost::asio::awaitable<http::Response> GetBucket(Call call);
  boost::asio::awaitable<http::Response> GetVersion(Call call);
  boost::asio::awaitable<http::Response> GetWatermark(Call call);
  // False if the caps on held requests refused to hold it.
  boost::asio::awaitable<bool> HoldForManifest(const std::string& room, uint64_t after,
                                               const std::string& remote);
  boost::asio::awaitable<http::Response> HoldForBucket(const BucketGet& get);
  std::optional<http::Response> ServeIfClosed(const BucketGet& get);
  // Waits on a ticket for at most max_hold; false (ticket cancelled) if the
  // caps on held requests leave no room for one more from `remote`.
  boost::asio::awaitable<bool> Hold(HoldRegistry::Ticket ticket,
                                    const std::string& remote);
  // 500 for bytes that fail their digest (counted, logged), else 503.
  http::Response StoreFailure(const http::Request& req, const absl::Status& status);

  // live_push.cc: POST /v1/live, the publisher's records of open buckets.
  boost::asio::awaitable<http::Response> PostLive(http::Request& req);
  v1::LiveAck TakeAppend(const std::string& writer, const v1::LiveAppend& a);
  // The open bucket's state, for an append that may be taken; else the
  // refusal's reason.
  absl::StatusOr<std::shared_ptr<LiveBucket>> LiveBucketFor(const std::string& writer,
                                                            const v1::LiveAppend& a,
                                                            std::string* key);
  // Closes the open bucket at `key` if it is stored (its stored segment) or
  // closed empty by the watermark (the empty segment); a mismatch with what
  // was streamed aborts its streams. Called after a bucket is registered,
  // so a close that landed just before is not missed.
  void SettleIfClosed(const std::string& key, const segmenter::ObjectRef& ref,
                      const RoomMeta& meta);
  void CloseLive(const std::string& key, absl::string_view pb);
  // After a watermark: every open bucket it closes.
  void SettleLiveBefore(int64_t watermark_ms);
  // live_relay.cc, cluster mode: an append this origin took goes to every
  // other origin over core NATS ("rclive.{room}"), which takes it as a
  // POST of its own, so their viewers of the open bucket get the same
  // records.
  absl::Status StartRelay();
  void RelayAppend(const std::string& writer, const v1::LiveAppend& a);
  void OnRelayedAppend(const cluster::BusMessage& m);

  // stream.cc: GET of an open bucket, streamed (DESIGN §10).
  bool Streamable(const BucketGet& get) const;
  boost::asio::awaitable<http::Response> StreamBucket(const BucketGet& get);
  boost::asio::awaitable<http::Response> StreamWhenStarted(
      const BucketGet& get, LiveBucket& bucket, std::shared_ptr<LiveBucket::Subscriber> sub);
  boost::asio::awaitable<void> StreamChunks(const BucketGet& get, LiveBucket& bucket,
                                            LiveBucket::Form form,
                                            const std::shared_ptr<LiveBucket::Subscriber>& sub);

  // put.cc: PUT from the publisher.
  boost::asio::awaitable<http::Response> PutManifest(Call call);
  boost::asio::awaitable<http::Response> PutObject(Call call);
  boost::asio::awaitable<http::Response> PutWatermark(Call call);
  // takedown.cc: DESIGN §11's takedown PUT (PutObject hands it over when
  // the request carries Roomcast-Takedown-* headers) and the records.
  // `encodings`: the new body's gzip copies (put.cc's check made them).
  boost::asio::awaitable<http::Response> PutTakedown(Call call,
                                                     std::optional<Encodings> encodings);
  http::Response AnswerRetriedTakedown(const http::Request& req, const std::string& key,
                                       const TakedownHeaders& h,
                                       const std::string& new_digest);
  http::Response StoreTakedown(const Call& call, const std::string& key,
                               const TakedownHeaders& h, const std::string& new_digest,
                               std::optional<Encodings> encodings);
  http::Response GetTakedowns(const http::Request& req, const std::string& room,
                              segmenter::Scope scope);
  http::Response ListTakedowns(const http::Request& req, const std::string& room,
                               segmenter::Scope scope);
  // admit.cc: who may write what.
  // The publisher id the request's secret writes for: "" for the shared
  // secret (any publisher), nullopt for no valid secret.
  // Whether `req` carries the write secret of the room `ref` names (the
  // shared one, or its own publisher's).
  bool IsRoomWriter(const http::RequestHead& req, const segmenter::ObjectRef& ref) const;
  std::optional<std::string> WriterOf(const http::RequestHead& req) const;
  // nullopt if the request may write `ref`; else the 401, 403 or 405.
  std::optional<http::Response> RefuseWrite(const http::RequestHead& req,
                                            const segmenter::ObjectRef& ref) const;
  absl::Status StoreManifest(const Call& call, const RoomMeta& meta);
  bool ClosedAndNeverStored(const segmenter::ObjectRef& ref,
                            const std::string& key, const RoomMeta& meta) const;

  // cluster_events.cc: what another origin stored (a shared store's
  // notices), applied as a local PUT would have been.
  void OnStoreEvent(const StoreEvent& e);
  void ApplyRoomMeta(const RoomMeta& meta);
  void ApplyWatermark(const v1::Watermark& wm);
  void ApplyObject(const std::string& key);
  // origin.cc: reloads room metadata and watermarks (forward only), for
  // notices missed while disconnected; run with each retention sweep.
  void Resync();

  // Runs `f` (a store call) on the store threads and resumes on the
  // caller's executor: in cluster mode a write waits a JetStream round
  // trip, and a serving thread does not wait with it.
  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F&>> OnStoreThread(F f) {
    co_return co_await boost::asio::co_spawn(
        store_threads_,
        [&f]() -> boost::asio::awaitable<std::invoke_result_t<F&>> { co_return f(); },
        boost::asio::use_awaitable);
  }

  std::optional<RoomMeta> FindRoom(const std::string& room) const;
  int64_t WatermarkOf(const std::string& publisher) const;
  // Every bucket of the room ending at or before this is closed: its
  // publisher's watermark, unless its manifest says it stalled earlier.
  int64_t ClosedThrough(const RoomMeta& meta) const;

  OriginOptions options_;
  std::unique_ptr<ObjectStore> store_;
  HoldRegistry holds_;
  LiveBuckets live_;
  std::atomic<int64_t> streams_now_{0};  // counted as held, too
  http::AddressLimits held_limits_;
  http::Metrics metrics_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, RoomMeta> rooms_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> watermarks_ ABSL_GUARDED_BY(mu_);
  // Serializes a watermark's check-store-set, so mu_ is not held over a
  // store write (a network round trip in cluster mode).
  absl::Mutex watermark_write_mu_;

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
  http::Counter& takedowns_;
  http::Gauge& live_streams_;
  http::Counter& live_conflicts_;
  http::Counter& live_full_;
  // Cluster mode: store_ as a JetStreamStore (null otherwise), and the
  // relayed appends' subscription (ended first, in ~Origin).
  JetStreamStore* cluster_store_ = nullptr;
  std::unique_ptr<cluster::Bus::Subscription> relay_sub_;
  // Last: stopped before the store and the metrics it uses go.
  std::unique_ptr<Purger> purger_;
  // Store writes off the serving threads (OnStoreThread); joined first.
  boost::asio::thread_pool store_threads_{kStoreThreads};
  static constexpr int kStoreThreads = 8;
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_ORIGIN_H_
