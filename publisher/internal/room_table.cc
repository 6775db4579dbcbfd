#include "publisher/internal/room_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/hint_keys.h"
#include "segmenter/bucketer.h"

namespace roomcast::publisher::internal {

RoomTable::RoomTable(Options options, const base::Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

absl::Status RoomTable::Apply(const log::Record& r,
                              v1::StateComponent* state_out) {
  if (r.has_opened()) {
    Open(r);
    return absl::OkStatus();
  }
  Room* room = Find(r.room());
  if (room == nullptr) return absl::NotFoundError("record for an unknown room");
  if (r.has_ended() && !room->ended()) {
    const int64_t d = room->config().bucket_ms();
    if (--live_bucket_ms_[d] <= 0) live_bucket_ms_.erase(d);
  }
  return room->Apply(r, state_out);
}

void RoomTable::Open(const log::Record& r) {
  const log::RoomOpened& o = r.opened();
  RoomIdentity id{.room = r.room(),
                  .publisher = options_.publisher_id,
                  .config = o.config(),
                  .epoch = o.epoch(),
                  .opened_ms = o.opened_ms(),
                  .hint_secret = RoomHintSecret(options_.hint_master_secret,
                                                r.room(), o.epoch())};
  rooms_[r.room()] =
      std::make_unique<Room>(std::move(id), options_.idempotency_window_ms);
  ++live_bucket_ms_[o.config().bucket_ms()];
}

Room* RoomTable::Find(const std::string& room) {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : it->second.get();
}

absl::StatusOr<Room*> RoomTable::Live(const std::string& room) {
  Room* r = Find(room);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' is not open"));
  }
  if (!r->accepting()) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' has ended"));
  }
  return r;
}

int64_t RoomTable::Stamp(Room* room) {
  const int64_t ts = room->Stamp(clock_->NowMs(), closed_through_);
  inflight_floor_ = inflight_ == 0 ? ts : std::min(inflight_floor_, ts);
  ++inflight_;
  return ts;
}

void RoomTable::Unstamp(size_t n) { inflight_ -= n; }

int64_t RoomTable::OpeningTimeMs() {
  return std::max(clock_->NowMs(), closed_through_);
}

void RoomTable::ApplyDurable(const std::vector<log::Record>& records,
                             size_t stamped, v1::StateComponent* state_out) {
  absl::MutexLock l(&mu_);
  for (const log::Record& r : records) {
    if (!r.has_opened()) {
      if (absl::Status s = Apply(r, state_out); !s.ok()) {
        ROOMCAST_LOG(kError, "publisher", "durable_record_not_applied")
            .Kv("room", r.room())
            .Kv("status", s);
      }
    }
    active_.insert(r.room());
  }
  inflight_ -= stamped;
}

absl::StatusOr<RoomProgressList> RoomTable::Recover(
    DurableLog& log, int64_t uploaded_through_ms,
    const absl::flat_hash_map<std::string, log::RoomProgress>& progress) {
  absl::MutexLock l(&mu_);
  ROOMCAST_RETURN_IF_ERROR(
      log.Replay([&](const log::Record& r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        absl::Status s = Apply(r);
        if (!s.ok()) {
          return absl::DataLossError(absl::StrCat(
              "replaying the log of room '", r.room(), "': ", s.message()));
        }
        return absl::OkStatus();
      }));
  closed_through_ = uploaded_through_ms;
  RoomProgressList out;
  for (auto& [name, room] : rooms_) {
    room->Recover(uploaded_through_ms);
    auto it = progress.find(name);
    const log::RoomProgress p =
        it == progress.end() ? log::RoomProgress() : it->second;
    room->RestoreManifestProgress(p);
    out.emplace_back(name, p);
    active_.insert(name);  // the first round re-publishes what needs it
  }
  return out;
}

int64_t RoomTable::Close(int64_t now_ms, ClosedRooms* out) {
  absl::MutexLock l(&mu_);
  int64_t wm = now_ms;
  // A bucket holding a record that is stamped but not yet durable stays
  // open.
  if (inflight_ > 0) wm = std::min(wm, inflight_floor_);
  wm = std::max(wm, closed_through_);
  closed_through_ = wm;
  for (auto it = active_.begin(); it != active_.end();) {
    Room* room = Find(*it);
    if (room != nullptr) {
      std::vector<Upload> ups = room->Close(wm, now_ms);
      if (!ups.empty()) out->emplace_back(*it, std::move(ups));
    }
    if (room == nullptr || !room->Active()) {
      active_.erase(it++);
    } else {
      ++it;
    }
  }
  return wm;
}

bool RoomTable::CrossesBoundary(int64_t from_ms, int64_t to_ms) {
  absl::MutexLock l(&mu_);
  for (const auto& [d, n] : live_bucket_ms_) {
    if (segmenter::BucketIndex(from_ms, d) !=
        segmenter::BucketIndex(to_ms, d)) {
      return true;
    }
  }
  return false;
}

bool RoomTable::Unpublished() {
  absl::MutexLock l(&mu_);
  for (const std::string& name : active_) {
    if (Room* r = Find(name); r != nullptr && r->Unpublished()) return true;
  }
  return false;
}

absl::Status RoomTable::CheckLive(const std::string& room) {
  absl::MutexLock l(&mu_);
  return Live(room).status();
}

absl::StatusOr<std::string> RoomTable::HintSecret(const std::string& room) {
  absl::MutexLock l(&mu_);
  Room* r = Find(room);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' is not open"));
  }
  return r->hint_secret();
}

size_t RoomTable::size() {
  absl::MutexLock l(&mu_);
  return rooms_.size();
}

}  // namespace roomcast::publisher::internal
