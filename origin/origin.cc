// The Origin's construction and what it keeps in memory: each room's
// metadata (from its latest manifest) and each publisher's watermark, both
// loaded from the store at start-up.
#include "origin/origin.h"

#include <algorithm>

#include "auth/jwt.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "origin/internal/purger.h"
#include "origin/jetstream_store.h"
#include "origin/store.h"

namespace roomcast::origin {

namespace {

const base::Clock* SystemClockIfNull(const base::Clock* clock) {
  static const base::SystemClock system;
  return clock != nullptr ? clock : &system;
}

}  // namespace

ViewerVerifier JwtViewerVerifier(std::string jwt_secret, const base::Clock* clock) {
  clock = SystemClockIfNull(clock);
  return [secret = std::move(jwt_secret), clock](absl::string_view token,
                                                 absl::string_view room) {
    return auth::VerifyViewer(token, secret, room, clock->NowMs() / 1000);
  };
}

Origin::Origin(OriginOptions options, std::unique_ptr<ObjectStore> store)
    : options_(std::move(options)),
      store_(std::move(store)),
      live_(options_.max_live_buckets),
      held_limits_(options_.max_held, options_.max_held_per_address),
      held_now_(metrics_.AddGauge("roomcast_origin_held_requests",
                                  "Requests held now for an object about to exist")),
      wake_delay_(metrics_.AddHistogram(
          "roomcast_origin_hold_wake_delay_seconds",
          "From the write that completes a held request to its answer")),
      bytes_out_(metrics_.AddCounter("roomcast_origin_bytes_out_total",
                                     "Body bytes served")),
      conflicts_(metrics_.AddCounter(
          "roomcast_origin_immutable_conflicts_total",
          "PUTs refused because they would change an immutable object")),
      objects_stored_(metrics_.AddCounter("roomcast_origin_objects_stored_total",
                                          "Objects created by PUT")),
      corrupt_(metrics_.AddCounter(
          "roomcast_origin_corrupt_objects_total",
          "Stored objects whose bytes no longer match their digest")),
      takedowns_(metrics_.AddCounter("roomcast_origin_takedowns_total",
                                     "Objects replaced by a takedown (DESIGN §11)")),
      live_streams_(metrics_.AddGauge("roomcast_origin_live_streams",
                                      "Open buckets' streams being served now (DESIGN §10)")),
      live_conflicts_(metrics_.AddCounter(
          "roomcast_origin_live_conflicts_total",
          "Open buckets whose streams were cut: a record differed from one streamed")),
      live_full_(metrics_.AddCounter(
          "roomcast_origin_live_full_total",
          "Open buckets refused because --max-live-buckets were open")) {
  options_.clock = SystemClockIfNull(options_.clock);
}

// No notice may reach a half-destroyed Origin.
Origin::~Origin() {
  relay_sub_.reset();
  if (store_) store_->Watch(nullptr).IgnoreError();
}

namespace {

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const OriginOptions& o) {
  if (o.nats_urls.empty()) return Store::Open(o.data_dir, o.sync);
  return JetStreamStore::Open({.urls = o.nats_urls,
                               .origin_id = o.origin_id,
                               .startup_timeout = o.nats_startup_timeout});
}

}  // namespace

absl::StatusOr<std::unique_ptr<Origin>> Origin::Open(OriginOptions options) {
  ROOMCAST_ASSIGN_OR_RETURN(auto store, OpenStore(options));
  std::unique_ptr<Origin> o(new Origin(std::move(options), std::move(store)));
  // Watching before loading: what another origin writes in between is
  // either loaded or heard.
  Origin* self = o.get();
  ROOMCAST_RETURN_IF_ERROR(
      o->store_->Watch([self](const StoreEvent& e) { self->OnStoreEvent(e); }));
  ROOMCAST_RETURN_IF_ERROR(o->LoadState());
  if (!o->options_.nats_urls.empty()) {
    o->cluster_store_ = static_cast<JetStreamStore*>(o->store_.get());
    ROOMCAST_RETURN_IF_ERROR(o->StartRelay());
  }
  if (!o->options_.purge_bases.empty()) {
    o->purger_ = std::make_unique<Purger>(
        PurgeOptions{.bases = o->options_.purge_bases,
                     .secret = o->options_.purge_secret,
                     .max_pending_per_cache = o->options_.max_pending_purges,
                     .repeat_after = o->options_.purge_repeat},
        o->store_.get(), &o->metrics_);
    ROOMCAST_RETURN_IF_ERROR(o->purger_->Start());
  }
  return o;
}

absl::Status Origin::LoadState() {
  ROOMCAST_ASSIGN_OR_RETURN(auto metas, store_->LoadRoomMetas());
  ROOMCAST_ASSIGN_OR_RETURN(auto wms, store_->LoadWatermarks());
  absl::MutexLock lock(&mu_);
  for (RoomMeta& m : metas) rooms_[m.room()] = std::move(m);
  for (const v1::Watermark& w : wms) watermarks_[w.publisher()] = w.watermark_ms();
  return absl::OkStatus();
}

absl::StatusOr<size_t> Origin::SweepExpired() {
  if (cluster_store_ != nullptr) Resync();
  return store_->SweepExpired(NowMs());
}

// Notices are at most once: an origin reconnecting to the cluster misses
// those sent meanwhile. Each sweep catches up with what the store holds,
// forward only, and wakes what it moved.
void Origin::Resync() {
  auto metas = store_->LoadRoomMetas();
  auto wms = store_->LoadWatermarks();
  if (!metas.ok() || !wms.ok()) {
    ROOMCAST_LOG(kWarning, "origin", "resync_failed")
        .Kv("status", metas.ok() ? wms.status() : metas.status());
    return;
  }
  for (const RoomMeta& m : *metas) ApplyRoomMeta(m);
  for (const v1::Watermark& w : *wms) ApplyWatermark(w);
}

std::optional<RoomMeta> Origin::FindRoom(const std::string& room) const {
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::nullopt;
  return it->second;
}

int64_t Origin::ClosedThrough(const RoomMeta& meta) const {
  int64_t w = WatermarkOf(meta.publisher());
  // A review delay holds the room's buckets back from its publisher's
  // watermark; what its manifest says it closed is closed all the same.
  if (meta.review_delay_ms() > 0) {
    w = std::max(w - int64_t{meta.review_delay_ms()}, std::min(w, meta.closed_floor_ms()));
  }
  return meta.stalled_from_ms() > 0 ? std::min(w, meta.stalled_from_ms()) : w;
}

int64_t Origin::WatermarkOf(const std::string& publisher) const {
  absl::MutexLock lock(&mu_);
  auto it = watermarks_.find(publisher);
  return it == watermarks_.end() ? 0 : it->second;
}

}  // namespace roomcast::origin
