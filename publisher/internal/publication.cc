#include "publisher/internal/publication.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"

namespace roomcast::publisher::internal {
namespace {

constexpr absl::string_view kProto = "application/x-protobuf";

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

}  // namespace

Publication::Publication(Options options, const base::Clock* clock,
                         Uploader* uploader, LogStore* log, RoomTable* rooms,
                         http::Metrics* metrics,
                         absl::AnyInvocable<void(int64_t)> before_round)
    : options_(std::move(options)),
      clock_(clock),
      uploader_(uploader),
      log_(log),
      rooms_(rooms),
      before_round_(std::move(before_round)),
      uploads_(metrics->AddCounter("roomcast_publisher_uploads_total",
                                   "PUTs to the origin")),
      upload_errors_(metrics->AddCounter(
          "roomcast_publisher_upload_errors_total", "Failed PUTs")),
      upload_conflicts_(metrics->AddCounter(
          "roomcast_publisher_upload_conflicts_total",
          "409 from the origin: changed immutable bytes (a bug alarm)")),
      stalls_(metrics->AddCounter("roomcast_publisher_room_stalls_total",
                                  "Rooms stalled by an object the origin refused")),
      watermark_puts_(metrics->AddCounter(
          "roomcast_publisher_watermark_puts_total", "Watermark advances")),
      watermark_lag_ms_(
          metrics->AddGauge("roomcast_publisher_watermark_lag_ms",
                            "Clock minus the published watermark")),
      upload_latency_(
          metrics->AddHistogram("roomcast_publisher_upload_latency_seconds",
                                "One PUT to the origin, retries included", {},
                                http::FastLatencyBuckets())) {
  metrics->AddCallbackGauge(
      "roomcast_publisher_outbox_objects", "Objects waiting for the origin",
      [this] { return static_cast<int64_t>(outbox_size()); });
}

Publication::~Publication() { StopTicker(); }

void Publication::Restore(int64_t uploaded_through_ms,
                          const RoomProgressList& progress) {
  absl::MutexLock l(&mu_);
  published_w_ = uploaded_through_ms;
  for (const auto& [room, p] : progress) outbox_[room].progress = p;
}

absl::Status Publication::Tick() {
  absl::MutexLock l(&mu_);
  const int64_t now = clock_->NowMs();
  before_round_(now);
  ClosedRooms closed;
  const int64_t wm = rooms_->Close(now, &closed);
  Enqueue(std::move(closed));
  // An intent that could not be written holds back only its manifest
  // (UploadRoom): what is durable is still published and the watermark
  // still moves (DESIGN §15, a full disk).
  absl::Status s = PersistIntents();
  absl::Status u = UploadOutbox();
  if (s.ok()) s = u;
  absl::Status w = AdvanceWatermark(wm, now);
  RunAfterRound(now);
  return s.ok() ? w : s;
}

void Publication::SetAfterRound(AfterRound after_round) {
  absl::MutexLock l(&mu_);
  after_round_ = std::move(after_round);
}

void Publication::RunAfterRound(int64_t now_ms) {
  if (!after_round_) return;
  absl::flat_hash_set<std::string> waiting;
  for (const auto& [name, o] : outbox_) {
    if (!o.queue.empty()) waiting.insert(name);
  }
  for (const std::string& gone : after_round_(now_ms, waiting)) {
    outbox_.erase(gone);
  }
}

void Publication::Enqueue(ClosedRooms closed) {
  for (auto& [name, ups] : closed) {
    Outbox& o = outbox_[name];
    for (Upload& u : ups) {
      // A newer manifest supersedes one still waiting.
      if (u.manifest_version != 0) {
        std::erase_if(o.queue,
                      [](const Upload& q) { return q.manifest_version != 0; });
      }
      o.queue.push_back(std::move(u));
    }
  }
}

absl::Status Publication::PersistIntents() {
  RoomProgressList intents;
  for (auto& [name, o] : outbox_) {
    for (const Upload& u : o.queue) {
      if (u.manifest_version > o.progress.manifest_intent()) {
        log::RoomProgress p = o.progress;
        p.set_manifest_intent(u.manifest_version);
        intents.emplace_back(name, p);
      }
    }
  }
  ROOMCAST_RETURN_IF_ERROR(log_->WriteProgress(nullptr, intents));
  // Only a durable intent lets its manifest go (UploadRoom).
  for (const auto& [name, p] : intents) {
    outbox_[name].progress.set_manifest_intent(p.manifest_intent());
  }
  return absl::OkStatus();
}

absl::Status Publication::UploadOutbox() { return UploadOutboxAt(clock_->NowMs()); }

absl::Status Publication::UploadOutboxAt(int64_t now_ms) {
  absl::Status first_error;
  for (auto& [name, o] : outbox_) {
    absl::Status s = UploadRoom(name, o, now_ms);
    // The origin is unreachable: stop the round, the rest would fail too.
    if (IsRetryableUploadError(s)) return s;
    if (first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status Publication::Put(const std::string& room, const Upload& u) {
  const auto t0 = std::chrono::steady_clock::now();
  // Rendered with takedown stubs: the origin may hold it without them.
  absl::Status s = !u.stubbed.empty() && rendered_ ? rendered_(room, u)
                                                   : uploader_->Put(u.path, u.bytes, kProto);
  upload_latency_.Observe(SecondsSince(t0));
  uploads_.Add();
  if (!s.ok() && !absl::IsAlreadyExists(s)) upload_errors_.Add();
  return s;
}

absl::Status Publication::UploadRoom(const std::string& room, Outbox& o, int64_t now_ms) {
  if (o.stalled) {
    UploadStalled(room, o, now_ms);
    return absl::OkStatus();
  }
  while (!o.queue.empty()) {
    const Upload& u = o.queue.front();
    // A manifest newer than its durable intent waits: after a restart the
    // publisher could otherwise publish a version older than this one.
    if (u.manifest_version > o.progress.manifest_intent()) break;
    absl::Status s = Put(room, u);
    if (absl::IsAlreadyExists(s)) {
      // The origin holds other bytes at an immutable URL: a bug, here or
      // there. Retrying cannot help; raise the alarm and move on.
      upload_conflicts_.Add();
      ROOMCAST_LOG(kError, "publisher", "upload_conflict")
          .Kv("path", u.path)
          .Kv("status", s);
    } else if (!s.ok()) {
      if (IsRetryableUploadError(s)) return s;
      Stall(room, o, u, s, now_ms);
      return s;  // reported; every other room goes on
    }
    if (u.manifest_version > o.progress.manifest_done()) {
      o.progress.set_manifest_done(u.manifest_version);
      o.progress_dirty = true;
    }
    o.queue.pop_front();
  }
  return absl::OkStatus();
}

void Publication::Stall(const std::string& room, Outbox& o, const Upload& refused,
                        const absl::Status& why, int64_t now_ms) {
  stalls_.Add();
  ROOMCAST_LOG(kError, "publisher", "room_stalled")
      .Kv("room", room)
      .Kv("path", refused.path)
      .Kv("status", why);
  o.stalled = true;
  o.stall_announced = false;
  o.retry_at_ms = now_ms + options_.stall_retry_ms;
  // Buckets ending after the refused object's are not closed at the origin.
  const int64_t from = refused.gate_ms == kNoGate ? published_w_.load() : refused.gate_ms;
  rooms_->MarkStalled(room, absl::StrCat("the origin refused ", refused.path, ": ", why.message()),
                      from);
}

void Publication::UploadStalled(const std::string& room, Outbox& o, int64_t now_ms) {
  for (auto it = o.queue.begin(); it != o.queue.end();) {
    if (it->manifest_version == 0 || it->manifest_version > o.progress.manifest_intent() ||
        !Put(room, *it).ok()) {
      ++it;
      continue;
    }
    o.progress.set_manifest_done(std::max(o.progress.manifest_done(), it->manifest_version));
    o.progress_dirty = true;
    o.stall_announced = true;
    it = o.queue.erase(it);
  }
  if (now_ms < o.retry_at_ms || o.queue.empty() || o.queue.front().manifest_version != 0) return;
  if (absl::Status s = Put(room, o.queue.front()); !s.ok() && !absl::IsAlreadyExists(s)) {
    o.retry_at_ms = now_ms + options_.stall_retry_ms;
    return;
  }
  ROOMCAST_LOG(kInfo, "publisher", "room_unstalled").Kv("room", room).Kv("path", o.queue.front().path);
  o.queue.pop_front();
  o.stalled = o.stall_announced = false;
  rooms_->Unstall(room);
}

absl::Status Publication::AdvanceWatermark(int64_t wm, int64_t now_ms) {
  int64_t target = wm;
  for (const auto& [name, o] : outbox_) {
    // Once the origin knows a room is stalled, it keeps that room's
    // buckets open itself: the watermark moves on for the rest.
    if (o.stall_announced) continue;
    for (const Upload& u : o.queue) target = std::min(target, u.gate_ms);
  }
  absl::StatusOr<bool> advanced = PutWatermark(target, now_ms);
  absl::Status p = PersistProgress(advanced.value_or(false));
  if (!p.ok()) {
    ROOMCAST_LOG(kError, "publisher", "progress_not_persisted").Kv("status", p);
  }
  watermark_lag_ms_.Set(now_ms - published_w_.load());
  return advanced.ok() ? p : advanced.status();
}

absl::StatusOr<bool> Publication::PutWatermark(int64_t target, int64_t now_ms) {
  const int64_t old = published_w_.load();
  if (target <= old) return false;
  if (!rooms_->CrossesBoundary(old, target) &&
      now_ms - last_watermark_put_ms_ < options_.watermark_heartbeat_ms) {
    return false;
  }
  v1::Watermark w;
  w.set_publisher(options_.publisher_id);
  w.set_watermark_ms(target);
  ROOMCAST_RETURN_IF_ERROR(
      uploader_->Put(segmenter::WatermarkPath(options_.publisher_id),
                     segmenter::SerializeDeterministic(w), kProto));
  published_w_ = target;
  last_watermark_put_ms_ = now_ms;
  watermark_puts_.Add();
  return true;
}

absl::Status Publication::PersistProgress(bool advanced) {
  log::Progress progress;
  progress.set_uploaded_through_ms(published_w_.load());
  RoomProgressList rooms;
  for (auto it = outbox_.begin(); it != outbox_.end();) {
    if (it->second.progress_dirty)
      rooms.emplace_back(it->first, it->second.progress);
    it->second.progress_dirty = false;
    if (it->second.queue.empty()) {
      outbox_.erase(it++);
    } else {
      ++it;
    }
  }
  absl::Status s = log_->WriteProgress(advanced ? &progress : nullptr, rooms);
  // Rooms whose progress record was dropped with an empty outbox must keep
  // it: re-insert the record (tiny) so the next intent builds on it; one
  // not written is written again next round.
  for (auto& [name, rp] : rooms) {
    if (!outbox_.contains(name)) outbox_[name].progress = rp;
    if (!s.ok()) outbox_[name].progress_dirty = true;
  }
  return s;
}

size_t Publication::outbox_size() {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [name, o] : outbox_) n += o.queue.size();
  return n;
}

void Publication::StartTicker() {
  if (ticker_running_.exchange(true)) return;
  ticker_ = std::thread([this] { TickerLoop(); });
}

void Publication::TickerLoop() {
  std::string last_error;
  // Rounds run at wall-clock multiples of tick_ms, not tick_ms after the
  // last one ended: bucket ends are multiples of D, so with D a multiple of
  // tick_ms (100, 250 with 10 ms ticks, 1000...) a bucket closes in the
  // round right at its end instead of up to a tick plus the round's own run
  // time later.
  auto until_next = [this] {
    const int64_t now = clock_->NowMs();
    return absl::Milliseconds(options_.tick_ms - now % options_.tick_ms);
  };
  while (!stop_ticker_.WaitForNotificationWithTimeout(until_next())) {
    absl::Status s = Tick();
    // Log a failing round once, not every 20 ms.
    std::string e = s.ok() ? "" : std::string(s.message());
    if (!s.ok() && e != last_error) {
      ROOMCAST_LOG(kError, "publisher", "round_failed").Kv("status", s);
    }
    last_error = e;
  }
}

void Publication::StopTicker() {
  if (!ticker_running_.exchange(false)) return;
  stop_ticker_.Notify();
  ticker_.join();
}

absl::Status Publication::Flush(int64_t budget_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  // First: a round in flight, retrying an origin that is down, would hold
  // the ticker (and the stop) for its whole retry budget (minutes).
  uploader_->SetDeadline(deadline);
  StopTicker();
  absl::Status s;
  for (;;) {
    s = Tick();
    if (!rooms_->Unpublished() && outbox_size() == 0) return s;
    if (std::chrono::steady_clock::now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(options_.tick_ms));
  }
  return s.ok() ? absl::DeadlineExceededError(
                      "flush budget spent; the log "
                      "keeps the rest for the next start")
                : s;
}

}  // namespace roomcast::publisher::internal
