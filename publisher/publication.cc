// Publisher: the publication round. Buckets close by the publisher's clock;
// the objects they make go to the origin in order (immutable objects first,
// each room's manifest last), and only then does the publisher watermark
// move, never past an object the origin has not acknowledged.
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "publisher/publisher.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"

namespace roomcast::publisher {
namespace {

constexpr absl::string_view kProto = "application/x-protobuf";

void LogError(absl::string_view what, const absl::Status& s) {
  std::cerr << "roomcast-publisher: error: " << what << ": " << s << std::endl;
}

}  // namespace

absl::Status Publisher::Tick() {
  absl::MutexLock t(&tick_mu_);
  const int64_t now = clock_->NowMs();
  PublishPresence(now);
  const int64_t wm = CloseRooms(now);
  absl::Status s = PersistIntents();
  if (s.ok()) s = UploadOutbox();
  absl::Status w = AdvanceWatermark(wm, now);
  return s.ok() ? w : s;
}

int64_t Publisher::CloseRooms(int64_t now_ms) {
  std::vector<std::pair<std::string, std::vector<Upload>>> fresh;
  int64_t wm;
  {
    absl::MutexLock l(&mu_);
    wm = now_ms;
    // A bucket holding a record that is stamped but not yet durable stays
    // open.
    if (inflight_ > 0) wm = std::min(wm, inflight_floor_);
    wm = std::max(wm, closed_through_);
    closed_through_ = wm;
    for (auto it = active_.begin(); it != active_.end();) {
      Room* room = FindRoom(*it);
      if (room != nullptr) {
        std::vector<Upload> ups = room->Close(wm, now_ms);
        if (!ups.empty()) fresh.emplace_back(*it, std::move(ups));
      }
      if (room == nullptr || !room->Active()) {
        active_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  for (auto& [name, ups] : fresh) {
    Outbox& o = outbox_[name];
    for (Upload& u : ups) {
      // A newer manifest supersedes one still waiting.
      if (u.manifest_version != 0) {
        std::erase_if(o.queue, [](const Upload& q) { return q.manifest_version != 0; });
      }
      o.queue.push_back(std::move(u));
    }
  }
  return wm;
}

absl::Status Publisher::PersistIntents() {
  std::vector<std::pair<std::string, log::RoomProgress>> intents;
  for (auto& [name, o] : outbox_) {
    for (const Upload& u : o.queue) {
      if (u.manifest_version > o.progress.manifest_intent()) {
        o.progress.set_manifest_intent(u.manifest_version);
        intents.emplace_back(name, o.progress);
      }
    }
  }
  return log_->WriteProgress(nullptr, intents);
}

absl::Status Publisher::UploadOutbox() {
  absl::Status first_error;
  for (auto& [name, o] : outbox_) {
    while (!o.queue.empty()) {
      const Upload& u = o.queue.front();
      const auto t0 = std::chrono::steady_clock::now();
      absl::Status s = uploader_->Put(u.path, u.bytes, kProto);
      metrics_.upload_latency.Observe(std::chrono::duration<double>(
          std::chrono::steady_clock::now() - t0).count());
      metrics_.uploads.fetch_add(1);
      if (absl::IsAlreadyExists(s)) {
        // The origin holds other bytes at an immutable URL: a bug, here or
        // there. Retrying cannot help; raise the alarm and move on.
        metrics_.upload_conflicts.fetch_add(1);
        LogError(absl::StrCat("409 conflict for ", u.path), s);
      } else if (!s.ok()) {
        metrics_.upload_errors.fetch_add(1);
        // The origin is unreachable: stop the round, the rest would fail too.
        if (IsRetryableUploadError(s)) return s;
        LogError(absl::StrCat("upload of ", u.path, " refused"), s);
        if (first_error.ok()) first_error = s;
        break;  // keep it (and the room's later objects) for the next round
      }
      if (u.manifest_version > o.progress.manifest_done()) {
        o.progress.set_manifest_done(u.manifest_version);
        o.progress_dirty = true;
      }
      o.queue.pop_front();
    }
  }
  return first_error;
}

bool Publisher::CrossesBoundary(int64_t from, int64_t to) {
  absl::MutexLock l(&mu_);
  for (const auto& [d, n] : live_bucket_ms_) {
    if (segmenter::BucketIndex(from, d) != segmenter::BucketIndex(to, d)) return true;
  }
  return false;
}

absl::Status Publisher::AdvanceWatermark(int64_t wm, int64_t now_ms) {
  int64_t target = wm;
  for (const auto& [name, o] : outbox_) {
    for (const Upload& u : o.queue) target = std::min(target, u.gate_ms);
  }
  const int64_t old = published_w_.load();
  absl::Status status;
  log::Progress progress;
  bool advanced = false;
  if (target > old && (CrossesBoundary(old, target) ||
                       now_ms - last_watermark_put_ms_ >=
                           options_.watermark_heartbeat_ms)) {
    v1::Watermark w;
    w.set_publisher(options_.id);
    w.set_watermark_ms(target);
    status = uploader_->Put(segmenter::WatermarkPath(options_.id),
                            segmenter::SerializeDeterministic(w), kProto);
    if (status.ok()) {
      published_w_ = target;
      last_watermark_put_ms_ = now_ms;
      metrics_.watermark_puts.fetch_add(1);
      progress.set_uploaded_through_ms(target);
      advanced = true;
    }
  }
  std::vector<std::pair<std::string, log::RoomProgress>> rooms;
  for (auto it = outbox_.begin(); it != outbox_.end();) {
    if (it->second.progress_dirty) rooms.emplace_back(it->first, it->second.progress);
    it->second.progress_dirty = false;
    if (it->second.queue.empty()) {
      outbox_.erase(it++);
    } else {
      ++it;
    }
  }
  absl::Status p = log_->WriteProgress(advanced ? &progress : nullptr, rooms);
  if (!p.ok()) LogError("persisting upload progress", p);
  // Rooms whose progress record was dropped with an empty outbox must keep
  // it: re-insert the record (tiny) so the next intent builds on it.
  for (auto& [name, rp] : rooms) {
    if (!outbox_.contains(name)) outbox_[name].progress = rp;
  }
  metrics_.watermark_lag_ms = now_ms - published_w_.load();
  return status.ok() ? p : status;
}

size_t Publisher::outbox_size() {
  absl::MutexLock t(&tick_mu_);
  size_t n = 0;
  for (const auto& [name, o] : outbox_) n += o.queue.size();
  return n;
}

void Publisher::StartTicker() {
  if (ticker_running_.exchange(true)) return;
  ticker_ = std::thread([this] {
    std::string last_error;
    // Rounds run at wall-clock multiples of tick_ms, not tick_ms after the
    // last one ended: bucket ends are multiples of D, so with D a multiple of
    // tick_ms (100, 250 with 10 ms ticks, 1000...) a bucket closes in the
    // round right at its end instead of up to a tick plus the round's own
    // run time later.
    auto until_next = [this] {
      const int64_t now = clock_->NowMs();
      return absl::Milliseconds(options_.tick_ms - now % options_.tick_ms);
    };
    while (!stop_ticker_.WaitForNotificationWithTimeout(until_next())) {
      absl::Status s = Tick();
      // Log a failing round once, not every 20 ms.
      std::string e = s.ok() ? "" : std::string(s.message());
      if (!s.ok() && e != last_error) LogError("publication round", s);
      last_error = e;
    }
  });
}

void Publisher::StopTicker() {
  if (!ticker_running_.exchange(false)) return;
  stop_ticker_.Notify();
  ticker_.join();
}

absl::Status Publisher::Flush(int64_t budget_ms) {
  StopTicker();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  uploader_->SetDeadline(deadline);
  absl::Status s;
  for (;;) {
    s = Tick();
    bool idle = true;
    {
      absl::MutexLock l(&mu_);
      for (const std::string& name : active_) {
        if (Room* r = FindRoom(name); r != nullptr && r->Unpublished()) idle = false;
      }
    }
    if (idle && outbox_size() == 0) return s;
    if (std::chrono::steady_clock::now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(options_.tick_ms));
  }
  return s.ok() ? absl::DeadlineExceededError("flush budget spent; the log "
                                              "keeps the rest for the next start")
                : s;
}

}  // namespace roomcast::publisher
