#include "publisher/publisher.h"

#include <utility>

#include "base/ids.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/admission.h"
#include "publisher/internal/durable_log.h"
#include "publisher/internal/hint_keys.h"
#include "publisher/internal/ingest.h"
#include "publisher/internal/live_pusher.h"
#include "publisher/internal/presence.h"
#include "publisher/internal/publication.h"
#include "publisher/internal/room_table.h"
#include "publisher/internal/sequencer.h"
#include "publisher/internal/takedown_runner.h"

namespace roomcast::publisher {

using internal::Admission;

absl::StatusOr<std::unique_ptr<Publisher>> Publisher::Open(
    PublisherOptions options, const base::Clock* clock, Uploader* uploader) {
  if (!base::IsValidId(options.id)) {
    return absl::InvalidArgumentError(
        "publisher id must be [A-Za-z0-9_-]{1,64}");
  }
  ROOMCAST_ASSIGN_OR_RETURN(std::unique_ptr<internal::DurableLog> log,
                            internal::DurableLog::Open({.dir = options.data_dir,
                                                        .sync = options.sync}));
  return Open(std::move(options), clock, uploader, std::move(log));
}

absl::StatusOr<std::unique_ptr<Publisher>> Publisher::Open(
    PublisherOptions options, const base::Clock* clock, Uploader* uploader,
    std::unique_ptr<internal::LogStore> log) {
  if (!base::IsValidId(options.id)) {
    return absl::InvalidArgumentError(
        "publisher id must be [A-Za-z0-9_-]{1,64}");
  }
  if (log == nullptr) return absl::InvalidArgumentError("no log");
  std::unique_ptr<Publisher> p(
      new Publisher(std::move(options), clock, uploader, std::move(log)));
  ROOMCAST_RETURN_IF_ERROR(p->Recover());
  if (p->live_ != nullptr) {
    p->live_->Start();
    p->rooms_->MarkAllLiveDirty();  // pushed from 0: a no-op where the origin has it
  }
  return p;
}

Publisher::Publisher(PublisherOptions options, const base::Clock* clock,
                     Uploader* uploader,
                     std::unique_ptr<internal::LogStore> log)
    : options_(std::move(options)), uploader_(uploader), log_(std::move(log)) {
  rooms_ = std::make_unique<internal::RoomTable>(
      internal::RoomTable::Options{
          .publisher_id = options_.id,
          .hint_master_secret = options_.hint_master_secret,
          .idempotency_window_ms = options_.idempotency_window_ms,
          .lifecycle = options_.lifecycle},
      clock);
  sequencer_ = std::make_unique<internal::Sequencer>(log_.get(), rooms_.get());
  admission_ = std::make_unique<Admission>(options_.limits, options_.rates,
                                           clock, sequencer_.get(), &metrics_);
  ingest_ = std::make_unique<internal::Ingest>(
      internal::Ingest::Options{.limits = options_.limits,
                                .rollup_ms = options_.rollup_ms},
      admission_.get(), sequencer_.get(), &metrics_);
  presence_ = std::make_unique<internal::PresenceTracker>(
      options_.presence_period_ms, options_.presence_window_ms);
  publication_ = std::make_unique<internal::Publication>(
      internal::Publication::Options{
          .publisher_id = options_.id,
          .tick_ms = options_.tick_ms,
          .watermark_heartbeat_ms = options_.watermark_heartbeat_ms,
          .stall_retry_ms = options_.stall_retry_ms},
      clock, uploader, log_.get(), rooms_.get(), &metrics_,
      [this](int64_t now_ms) { PublishPresence(now_ms); });
  publication_->SetAfterRound(
      [this](int64_t now_ms, const absl::flat_hash_set<std::string>& waiting) {
        return Checkpoint(now_ms, waiting);
      });
  takedowns_ = std::make_unique<internal::TakedownRunner>(
      internal::TakedownRunner::Options{}, clock, uploader, sequencer_.get(), rooms_.get(),
      &metrics_);
  publication_->SetUploadRendered([this](const std::string& room, const internal::Upload& u) {
    return takedowns_->UploadRendered(room, u);
  });
  if (options_.live) {
    live_ = std::make_unique<internal::LivePusher>(internal::LivePusher::Options{}, clock,
                                                   uploader, rooms_.get(), &metrics_);
  }
  AddLogMetrics();
}

Publisher::~Publisher() {
  if (live_ != nullptr) live_->Stop();  // before the rooms and the uploader go
  takedowns_->Stop();    // no more jobs (the log's last callbacks may wake it)
  publication_.reset();  // no more rounds
  log_.reset();          // completes every pending job before the rooms go
}

absl::Status Publisher::Recover() {
  ROOMCAST_ASSIGN_OR_RETURN(log::Progress progress, log_->ReadProgress());
  std::vector<std::string> unreadable;
  ROOMCAST_ASSIGN_OR_RETURN(auto room_progress,
                            log_->ReadRoomProgress(&unreadable));
  const int64_t w = progress.uploaded_through_ms();
  ROOMCAST_ASSIGN_OR_RETURN(
      internal::RoomProgressList restored,
      rooms_->Recover(*log_, w, room_progress, unreadable));
  publication_->Restore(w, restored);
  takedowns_->Start(rooms_->RoomsWithTakedowns());
  return absl::OkStatus();
}

std::vector<std::string> Publisher::Checkpoint(
    int64_t now_ms, const absl::flat_hash_set<std::string>& waiting) {
  if (now_ms - last_checkpoint_ms_ < options_.lifecycle.period_ms &&
      !flushing_) {
    return {};
  }
  last_checkpoint_ms_ = now_ms;
  internal::RoomTable::CheckpointRound round =
      rooms_->SnapshotCheckpoints(now_ms, waiting, flushing_);
  if (round.empty()) return {};
  absl::Status s = log_->WriteCheckpoint(round.write);
  if (!s.ok()) {
    // The records stay; the next round tries again (the log logs the
    // failure once).
    rooms_->CommitCheckpoints(round, false);
    return {};
  }
  checkpoints_->Add(round.saved.size());
  std::vector<std::string> dropped = rooms_->CommitCheckpoints(round, true);
  rooms_dropped_->Add(dropped.size());
  for (const std::string& room : dropped) {
    ROOMCAST_LOG(kInfo, "publisher", "room_forgotten").Kv("room", room);
  }
  return dropped;
}

void Publisher::AddLogMetrics() {
  internal::LogStore* log = log_.get();
  metrics_.AddCallbackCounter("roomcast_publisher_log_records_total",
                              "Records synced to the log",
                              [log] { return log->records_written(); });
  metrics_.AddCallbackCounter("roomcast_publisher_log_batches_total",
                              "Synced log writes (group commits)",
                              [log] { return log->batches_written(); });
  metrics_.AddCallbackGauge(
      "roomcast_publisher_log_queue_depth", "Writes waiting for the log",
      [log] { return static_cast<int64_t>(log->queue_depth()); });
  metrics_.AddCallbackGauge("roomcast_publisher_healthy",
                            "1 while the log accepts writes",
                            [this] { return healthy() ? 1 : 0; });
  metrics_.AddCallbackGauge(
      "roomcast_publisher_rooms", "Open rooms (not ended)",
      [this] { return static_cast<int64_t>(rooms_->open_rooms()); });
  metrics_.AddCallbackGauge(
      "roomcast_publisher_rooms_stalled", "Rooms marked stalled",
      [this] { return static_cast<int64_t>(rooms_->stalled_rooms()); });
  AddLifecycleMetrics();
}

void Publisher::AddLifecycleMetrics() {
  internal::LogStore* log = log_.get();
  metrics_.AddCallbackCounter(
      "roomcast_publisher_log_quarantined_total",
      "Log records or checkpoints moved aside at start (unreadable)",
      [log] { return log->quarantined(); });
  metrics_.AddCallbackCounter("roomcast_publisher_log_write_failures_total",
                              "Log writes that failed (e.g. a full disk)",
                              [log] { return log->failed_writes(); });
  metrics_.AddCallbackCounter("roomcast_publisher_log_recoveries_total",
                              "Times the log wrote again after a failure",
                              [log] { return log->recoveries(); });
  metrics_.AddCallbackCounter("roomcast_publisher_log_compactions_total",
                              "Compactions of the trimmed log range",
                              [log] { return log->compactions(); });
  metrics_.AddCallbackGauge(
      "roomcast_publisher_log_trim_lsn",
      "Log records below this LSN were deleted (checkpoints cover them)",
      [log] { return static_cast<int64_t>(log->trim_point()); });
  checkpoints_ = &metrics_.AddCounter("roomcast_publisher_checkpoints_total",
                                      "Room checkpoints written");
  rooms_dropped_ =
      &metrics_.AddCounter("roomcast_publisher_rooms_forgotten_total",
                           "Ended rooms forgotten after their retention");
}

void Publisher::OpenRoom(const auth::Claims& who, const std::string& room,
                         const v1::OpenRoomRequest& request,
                         Callback<v1::RoomConfig> done) {
  ingest_->OpenRoom(who, room, request, std::move(done));
}

void Publisher::EndRoom(const auth::Claims& who, const std::string& room,
                        Callback<v1::RoomConfig> done) {
  ingest_->EndRoom(who, room, std::move(done));
}

void Publisher::Post(const auth::Claims& who, const std::string& room,
                     std::vector<v1::MessageInput> inputs,
                     Callback<v1::PostMessagesResponse> done) {
  ingest_->Post(who, room, std::move(inputs), std::move(done));
}

void Publisher::SetState(const auth::Claims& who, const std::string& room,
                         const std::string& component,
                         google::protobuf::Value value,
                         Callback<StateReply> done, uint32_t ttl_s) {
  ingest_->SetState(
      who, room, component, std::move(value), ttl_s,
      [done = std::move(done)](absl::StatusOr<v1::StateComponent> c) mutable {
        if (!c.ok()) return done(c.status());
        done(StateReply{.component = c->name(),
                        .version = c->version(),
                        .total_version = c->total_version(),
                        .ts_ms = c->ts_ms(),
                        .expires_ms = c->expires_ms()});
      });
}

void Publisher::PostPeer(const auth::Claims& who, const std::string& room,
                         const std::string& user, const v1::MessageInput& input,
                         Callback<v1::PostResult> done) {
  ingest_->PostPeer(who, room, user, input, std::move(done));
}

void Publisher::Retract(const auth::Claims& who, const std::string& room, uint64_t seq,
                        const v1::RetractRequest& request, Callback<v1::RetractReply> done) {
  ingest_->Retract(who, room, seq, request, std::move(done));
}

void Publisher::Ban(const auth::Claims& who, const std::string& room,
                    const v1::BanRequest& request, Callback<v1::BanReply> done) {
  ingest_->Ban(who, room, request, std::move(done));
}

void Publisher::Unban(const auth::Claims& who, const std::string& room, const std::string& user,
                      Callback<v1::BanReply> done) {
  ingest_->Unban(who, room, user, std::move(done));
}

void Publisher::UpdateSettings(const auth::Claims& who, const std::string& room,
                               const v1::RoomSettingsRequest& request,
                               Callback<v1::RoomSettingsRequest> done) {
  ingest_->UpdateSettings(who, room, request, std::move(done));
}

void Publisher::Takedown(const auth::Claims& who, const std::string& room,
                         const v1::TakedownRequest& request, Callback<v1::TakedownReply> done) {
  ingest_->Takedown(who, room, request,
                    [this, room, done = std::move(done)](absl::StatusOr<v1::TakedownReply> r) mutable {
                      if (r.ok() && !r->done()) takedowns_->Wake(room);
                      done(std::move(r));
                    });
}

absl::Status Publisher::Presence(const auth::Claims& who,
                                 const std::string& room) {
  ROOMCAST_RETURN_IF_ERROR(admission_->AdmitPresence(who, room));
  ROOMCAST_RETURN_IF_ERROR(rooms_->CheckLive(room));
  presence_->Heartbeat(room, who.sub, rooms_->NowMs());
  return absl::OkStatus();
}

void Publisher::PublishPresence(int64_t now_ms) {
  auto live = [this](const std::string& room) {
    return rooms_->CheckLive(room).ok();
  };
  const auth::Claims self{
      .sub = options_.id, .role = v1::ROLE_SERVICE, .room = "*"};
  for (const auto& [room, n] : presence_->Changes(now_ms, live)) {
    google::protobuf::Value v;
    v.set_number_value(static_cast<double>(n));
    SetState(self, room, "online", std::move(v), [room = room](auto r) {
      if (!r.ok()) {
        ROOMCAST_LOG(kWarning, "publisher", "online_count_not_set")
            .Kv("room", room)
            .Kv("status", r.status());
      }
    });
  }
}

absl::StatusOr<v1::HintKey> Publisher::HintKeyFor(const auth::Claims& who,
                                                  const std::string& room,
                                                  const std::string& user) {
  ROOMCAST_RETURN_IF_ERROR(Admission::CheckHintKey(who, room, user));
  ROOMCAST_ASSIGN_OR_RETURN(std::string secret, rooms_->HintSecret(room));
  return internal::HintKeyReply(room, user, secret);
}

absl::Status Publisher::Tick() {
  if (live_ != nullptr) live_->WakeIfDue();
  return publication_->Tick();
}

void Publisher::SyncLive() {
  if (live_ != nullptr) live_->Sync();
}
void Publisher::StartTicker() { publication_->StartTicker(); }
void Publisher::StopTicker() { publication_->StopTicker(); }
absl::Status Publisher::Flush(int64_t budget_ms) {
  // Stopping: whatever is published is checkpointed now, so the next start
  // replays only what was not.
  flushing_ = true;
  return publication_->Flush(budget_ms);
}

int64_t Publisher::published_watermark_ms() const {
  return publication_->published_watermark_ms();
}
size_t Publisher::outbox_size() { return publication_->outbox_size(); }
bool Publisher::healthy() const { return sequencer_->healthy(); }

bool Publisher::fenced() const { return log_->fenced(); }

void Publisher::SetValidUntil(std::chrono::steady_clock::time_point valid_until) {
  uploader_->SetValidUntil(valid_until);
}

}  // namespace roomcast::publisher
