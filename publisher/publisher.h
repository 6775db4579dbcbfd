// The publisher engine (DESIGN §3, §6): authenticated ingest, a sequencer
// per room, the durable log, and publication to the origin.
//
// Every write goes through the DurableLog's group commit: sequence numbers
// and receive times are assigned on the log's writer thread, the records are
// synced, then applied to the room and acknowledged. Tick() is one
// publication round: buckets that ended by the publisher's clock are closed,
// their objects uploaded (immutable ones first, the manifest last), and the
// publisher watermark advanced only past what the origin acknowledged.
// Opening replays the log, so everything acknowledged but not yet uploaded
// is re-published, byte-identically.
//
//   auto pub = Publisher::Open(options, &clock, &uploader);
//   (*pub)->Post(claims, "lobby", {input}, [](auto reply) { ... });
//   (*pub)->StartTicker();   // or call Tick() from a test
#ifndef ROOMCAST_PUBLISHER_PUBLISHER_H_
#define ROOMCAST_PUBLISHER_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "publisher/durable_log.h"
#include "publisher/ingest.h"
#include "publisher/limiter.h"
#include "publisher/presence.h"
#include "publisher/publisher_metrics.h"
#include "publisher/room.h"
#include "publisher/uploader.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/state.pb.h"

namespace roomcast::publisher {

// The publisher speaks in the auth library's terms.
using auth::AllowsRoom;
using auth::Claims;
using auth::MintJwt;
using auth::ParseRole;
using auth::RoleName;
using auth::VerifyJwt;

struct PublisherOptions {
  std::string id = "publisher";  // [A-Za-z0-9_-]{1,64}
  std::string data_dir;          // RocksDB lives here
  // Per-room peer-hint secrets derive from this. Must stay the same across
  // restarts (re-published segments carry the hint).
  std::string hint_master_secret;
  int64_t rollup_ms = 60000;
  int64_t idempotency_window_ms = 10 * 60 * 1000;
  IngestLimits limits;
  RateLimits rates;
  int64_t presence_period_ms = 5000;
  int64_t presence_window_ms = 30000;
  int64_t tick_ms = 20;               // background publication cadence
  int64_t watermark_heartbeat_ms = 1000;
  bool sync = true;                   // WAL fsync before every ack
};

// What a state set reports back.
struct StateReply {
  std::string component;
  uint64_t version = 0;
  uint64_t total_version = 0;
  int64_t ts_ms = 0;
};

// For a kResourceExhausted from the publisher: whole seconds until a retry
// may pass (at least 1); 0 for any other status.
int64_t RetryAfterSeconds(const absl::Status& s);

// Without a hint secret of its own, a deployment derives the peer-hint master
// from the JWT secret, so it needs one secret. Keep it stable: re-published
// segments carry hints made from it.
std::string DeriveHintMaster(absl::string_view jwt_secret);

class Publisher {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  // Replays the log in options.data_dir and prepares re-publication. The
  // clock and uploader must outlive the publisher.
  static absl::StatusOr<std::unique_ptr<Publisher>> Open(
      PublisherOptions options, const base::Clock* clock, Uploader* uploader);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // --- Ingest. Callbacks run once, maybe on another thread, after the
  // durable write (OK) or on rejection. Status codes: kInvalidArgument 400,
  // kUnauthenticated 401, kPermissionDenied 403, kNotFound 404, kOutOfRange
  // 413, kResourceExhausted 429, kFailedPrecondition 409, kUnavailable 503.
  void OpenRoom(const Claims& who, const std::string& room,
                const v1::OpenRoomRequest& request, Callback<v1::RoomConfig> done);
  void EndRoom(const Claims& who, const std::string& room,
               Callback<v1::RoomConfig> done);
  void Post(const Claims& who, const std::string& room,
            std::vector<v1::MessageInput> inputs,
            Callback<v1::PostMessagesResponse> done);
  void SetState(const Claims& who, const std::string& room,
                const std::string& component, google::protobuf::Value value,
                Callback<StateReply> done);
  void PostPeer(const Claims& who, const std::string& room,
                const std::string& user, const v1::MessageInput& input,
                Callback<v1::PostResult> done);
  absl::Status Presence(const Claims& who, const std::string& room);
  absl::StatusOr<v1::HintKey> HintKeyFor(const Claims& who,
                                         const std::string& room,
                                         const std::string& user);

  // --- Publication.
  // One round: close, upload, advance the watermark. Errors are the
  // round's first failure; what failed stays queued for the next round.
  absl::Status Tick();
  void StartTicker();
  void StopTicker();
  // Stops the ticker and publishes what it can within `budget_ms`.
  absl::Status Flush(int64_t budget_ms);

  int64_t published_watermark_ms() const { return published_w_.load(); }
  // Objects waiting for the origin.
  size_t outbox_size();
  bool healthy() const { return healthy_.load(); }
  PublisherMetrics& metrics() { return metrics_; }
  std::string RenderMetrics();

 private:
  struct Outbox {
    std::deque<Upload> queue;
    log::RoomProgress progress;
    bool progress_dirty = false;
  };
  Publisher(PublisherOptions options, const base::Clock* clock, Uploader* uploader,
            std::unique_ptr<DurableLog> log);
  absl::Status Recover();
  absl::Status ApplyRecord(const log::Record& r,
                           v1::StateComponent* state_out = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Room* FindRoom(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Room*> LiveRoom(const std::string& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t StampFor(Room* room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Submit(absl::AnyInvocable<void(std::vector<log::Record>*)> prepare,
              absl::AnyInvocable<void(absl::Status)> done);
  // Applies records that are now durable; false on a record that does not
  // apply (a bug: logged).
  void ApplyDurable(const std::vector<log::Record>& records, size_t stamped,
                    v1::StateComponent* state_out = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Writable();
  absl::Status Admit(const Claims& who, const std::string& room, size_t n);
  void PublishPresence(int64_t now_ms);

  // Publication (publication.cc), on the ticking thread.
  int64_t CloseRooms(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  absl::Status PersistIntents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  absl::Status UploadOutbox() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  absl::Status AdvanceWatermark(int64_t wm, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  bool CrossesBoundary(int64_t from, int64_t to);

  const PublisherOptions options_;
  const base::Clock* const clock_;
  Uploader* const uploader_;
  std::unique_ptr<DurableLog> log_;
  PublisherMetrics metrics_;
  std::atomic<bool> healthy_{true};
  std::atomic<int64_t> published_w_{0};
  RateLimiter limiter_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Room>> rooms_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> active_ ABSL_GUARDED_BY(mu_);
  // Bucket durations of live rooms (how many rooms each), for deciding when
  // the watermark crosses a boundary someone is waiting for.
  absl::flat_hash_map<int64_t, int> live_bucket_ms_ ABSL_GUARDED_BY(mu_);
  // Every bucket ending at or before this was (or is being) closed; receive
  // times never go below it.
  int64_t closed_through_ ABSL_GUARDED_BY(mu_) = 0;
  // Records stamped but not yet applied, and their earliest time: no bucket
  // holding one may close.
  size_t inflight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t inflight_floor_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, PresenceCounter> presence_
      ABSL_GUARDED_BY(mu_);
  int64_t next_presence_ms_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex tick_mu_;
  absl::flat_hash_map<std::string, Outbox> outbox_ ABSL_GUARDED_BY(tick_mu_);
  int64_t last_watermark_put_ms_ ABSL_GUARDED_BY(tick_mu_) = 0;

  std::thread ticker_;
  absl::Notification stop_ticker_;
  std::atomic<bool> ticker_running_{false};
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_PUBLISHER_H_
