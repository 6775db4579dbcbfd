// The publisher (DESIGN §2, §3, §6): it takes a live room's chat from its
// senders and turns it into what viewers read through a CDN. Every write is
// checked (token, role, rate), sequenced per room, written durably (RocksDB,
// group commit) and only then acknowledged; a publication round then closes
// the buckets that ended by the publisher's clock, uploads their objects to
// the origin (immutable ones first, each manifest last) and advances the
// publisher watermark only past what the origin acknowledged. Once a room's
// records are published, a checkpoint replaces them and they are deleted
// (DESIGN §14), so opening restores each room from its checkpoint and
// replays only the records after it: everything acknowledged but not yet
// uploaded is re-published, byte-identically, and a start costs what is
// unpublished, not the history. A record that cannot be replayed is
// quarantined and stalls its room, never the start.
//
// This is the engine; PublisherServer (server.h) puts it behind HTTP.
//
//   auto pub = Publisher::Open(options, &clock, &uploader);
//   (*pub)->Post(claims, "lobby", {input}, [](auto reply) { ... });
//   (*pub)->StartTicker();   // or call Tick() from a test
#ifndef ROOMCAST_PUBLISHER_PUBLISHER_H_
#define ROOMCAST_PUBLISHER_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "google/protobuf/struct.pb.h"
#include "http/metrics.h"
#include "publisher/options.h"
#include "publisher/uploader.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"

namespace roomcast::publisher {

namespace internal {
class Admission;
class LogStore;
class Ingest;
class LivePusher;
class PresenceTracker;
class Publication;
class RoomTable;
class Sequencer;
class TakedownRunner;
}  // namespace internal

// What a state set reports back.
struct StateReply {
  std::string component;
  uint64_t version = 0;
  uint64_t total_version = 0;
  int64_t ts_ms = 0;
  int64_t expires_ms = 0;  // 0: never
};

// For a kResourceExhausted from the publisher: whole seconds until a retry
// may pass (at least 1); 0 for any other status.
int64_t RetryAfterSeconds(const absl::Status& s);
// For a refusal of a banned user's write: when the ban ends (unix ms).
std::optional<int64_t> BannedUntilMs(const absl::Status& s);

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
  // The same on a log of the caller's (cluster mode: one shard's
  // JetStreamLog, publisher/internal/jetstream_log.h; options.data_dir is
  // then not used for the log).
  static absl::StatusOr<std::unique_ptr<Publisher>> Open(
      PublisherOptions options, const base::Clock* clock, Uploader* uploader,
      std::unique_ptr<internal::LogStore> log);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // --- Ingest. Callbacks run once, maybe on another thread, after the
  // durable write (OK) or on rejection. Status codes: kInvalidArgument 400,
  // kUnauthenticated 401, kPermissionDenied 403, kNotFound 404, kOutOfRange
  // 413, kResourceExhausted 429, kFailedPrecondition 409, kUnavailable 503.
  void OpenRoom(const auth::Claims& who, const std::string& room,
                const v1::OpenRoomRequest& request,
                Callback<v1::RoomConfig> done);
  void EndRoom(const auth::Claims& who, const std::string& room,
               Callback<v1::RoomConfig> done);
  void Post(const auth::Claims& who, const std::string& room,
            std::vector<v1::MessageInput> inputs,
            Callback<v1::PostMessagesResponse> done);
  void SetState(const auth::Claims& who, const std::string& room,
                const std::string& component, google::protobuf::Value value,
                Callback<StateReply> done, uint32_t ttl_s = 0);
  void PostPeer(const auth::Claims& who, const std::string& room,
                const std::string& user, const v1::MessageInput& input,
                Callback<v1::PostResult> done);
  // Moderation (DESIGN §11): retract an action (its sender, or anyone who
  // runs the room), ban and unban a user, change the live settings.
  void Retract(const auth::Claims& who, const std::string& room, uint64_t seq,
               const v1::RetractRequest& request, Callback<v1::RetractReply> done);
  void Ban(const auth::Claims& who, const std::string& room,
           const v1::BanRequest& request, Callback<v1::BanReply> done);
  void Unban(const auth::Claims& who, const std::string& room,
             const std::string& user, Callback<v1::BanReply> done);
  void UpdateSettings(const auth::Claims& who, const std::string& room,
                      const v1::RoomSettingsRequest& request,
                      Callback<v1::RoomSettingsRequest> done);
  // A takedown (DESIGN §11): durable before the answer; a job then
  // replaces every published object holding the seqs.
  void Takedown(const auth::Claims& who, const std::string& room,
                const v1::TakedownRequest& request, Callback<v1::TakedownReply> done);
  // A heartbeat: counts `who` as present (the `online` component).
  absl::Status Presence(const auth::Claims& who, const std::string& room);
  absl::StatusOr<v1::HintKey> HintKeyFor(const auth::Claims& who,
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

  // Waits until a live push round that starts after the call has run
  // (tests); at once with live pushing off.
  void SyncLive();

  int64_t published_watermark_ms() const;
  // Objects waiting for the origin.
  size_t outbox_size();
  // False while the log cannot write (a full disk): writes get 503 with
  // Retry-After until it has recovered.
  bool healthy() const;
  // Cluster mode: another owner took this engine's log over; it cannot
  // write again (its owner drops it).
  bool fenced() const;
  // Cluster mode: the engine's lease is surely held until `valid_until`
  // and may have moved after it; from then on nothing goes to the origin
  // (Uploader::SetValidUntil) until a renewal moves it on.
  void SetValidUntil(std::chrono::steady_clock::time_point valid_until);
  // Every roomcast_publisher_* series, for GET /metrics.
  const http::Metrics& metrics() const { return metrics_; }

 private:
  Publisher(PublisherOptions options, const base::Clock* clock,
            Uploader* uploader, std::unique_ptr<internal::LogStore> log);
  absl::Status Recover();
  void AddLogMetrics();
  void AddLifecycleMetrics();
  // The log lifecycle, after each publication round: checkpoints, the
  // trim, ended rooms forgotten (returned).
  std::vector<std::string> Checkpoint(
      int64_t now_ms, const absl::flat_hash_set<std::string>& waiting);
  // Publishes each room's changed online count (a state set of its own).
  void PublishPresence(int64_t now_ms);

  const PublisherOptions options_;
  Uploader* const uploader_;
  // Declared first: callbacks it renders read the parts below.
  http::Metrics metrics_;
  std::unique_ptr<internal::LogStore> log_;
  std::unique_ptr<internal::RoomTable> rooms_;
  std::unique_ptr<internal::Sequencer> sequencer_;
  std::unique_ptr<internal::Admission> admission_;
  std::unique_ptr<internal::Ingest> ingest_;
  std::unique_ptr<internal::PresenceTracker> presence_;
  std::unique_ptr<internal::Publication> publication_;
  // Declared after what it uses, so it stops first.
  std::unique_ptr<internal::TakedownRunner> takedowns_;
  std::unique_ptr<internal::LivePusher> live_;  // null with options.live off
  int64_t last_checkpoint_ms_ = 0;  // publication's thread only
  std::atomic<bool> flushing_{false};
  http::Counter* checkpoints_ = nullptr;
  http::Counter* rooms_dropped_ = nullptr;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_PUBLISHER_H_
