#include "publisher/internal/room_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/hint_keys.h"
#include "segmenter/bucketer.h"

namespace roomcast::publisher::internal {

absl::Status RoomTable::CheckConfig(const v1::RoomConfig& c) {
  // Times are divided by bucket_ms (and rollup_ms, when above it).
  return segmenter::ValidateBucketMs(c.bucket_ms());
}

RoomTable::RoomTable(Options options, const base::Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

absl::Status RoomTable::Apply(const log::Record& r,
                              v1::StateComponent* state_out) {
  if (r.has_opened()) {
    // Ingest checked it; a replayed one is checked again (it is read from
    // disk, and a room with another bucket_ms could not even be closed).
    ROOMCAST_RETURN_IF_ERROR(CheckConfig(r.opened().config()));
    Open(r);
    return absl::OkStatus();
  }
  Room* room = Find(r.room());
  if (room == nullptr) return absl::NotFoundError("record for an unknown room");
  const bool was_ended = room->ended();
  absl::Status s = room->Apply(r, state_out);
  if (!was_ended && room->ended()) Closed(room);
  return s;
}

Room* RoomTable::Open(const log::Record& r) {
  const log::RoomOpened& o = r.opened();
  RoomIdentity id{.room = r.room(),
                  .publisher = options_.publisher_id,
                  .config = o.config(),
                  .epoch = o.epoch(),
                  .opened_ms = o.opened_ms(),
                  .hint_secret = RoomHintSecret(options_.hint_master_secret,
                                                r.room(), o.epoch())};
  Forget(r.room());  // a re-created room starts afresh
  auto& slot = rooms_[r.room()];
  slot = std::make_unique<Room>(std::move(id), options_.idempotency_window_ms);
  ++live_bucket_ms_[o.config().bucket_ms()];
  ++open_rooms_;
  return slot.get();
}

void RoomTable::Closed(Room* room) {
  const int64_t d = room->config().bucket_ms();
  if (--live_bucket_ms_[d] <= 0) live_bucket_ms_.erase(d);
  --open_rooms_;
  if (room->ended()) ended_.insert({ExpiryMs(*room), room->name()});
}

int64_t RoomTable::ExpiryMs(const Room& room) {
  return room.ended_ms() + int64_t{room.config().retention_s()} * 1000;
}

void RoomTable::Forget(const std::string& name) {
  auto it = rooms_.find(name);
  if (it == rooms_.end()) return;
  if (it->second->ended()) {
    ended_.erase({ExpiryMs(*it->second), name});
  } else {
    Closed(it->second.get());
  }
  rooms_.erase(it);
  active_.erase(name);
  uncovered_.erase(name);
  with_replies_.erase(name);
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
  if (r->stalled()) {
    // Nothing is acked that cannot be published.
    return absl::UnavailableError(absl::StrCat("room '", room, "' is stalled (",
                                               r->stalled_reason(), "); it takes no writes now"));
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

void RoomTable::HoldOpen(int64_t ts_ms) {
  inflight_floor_ = inflight_ == 0 ? ts_ms : std::min(inflight_floor_, ts_ms);
  ++inflight_;
}

int64_t RoomTable::OpeningTimeMs() {
  return std::max(clock_->NowMs(), closed_through_);
}

namespace {

// Records that may give a room something to push, or release a withheld one.
// A state set (settings are state) and a peer message push a notice
// (DESIGN §10): a streaming follower gets it before the bucket closes.
bool Pushes(const log::Record& r) {
  return r.has_action() || r.has_retraction() || r.has_ban() || r.has_takedown() ||
         r.has_state() || r.has_settings() || r.has_peer();
}

}  // namespace

void RoomTable::MarkAllLiveDirty() {
  {
    absl::MutexLock l(&mu_);
    if (!live_wake_) return;
    for (const std::string& room : active_) live_dirty_.insert(room);
  }
  live_wake_();
}

void RoomTable::ApplyDurable(const std::vector<log::Record>& records,
                             uint64_t first_lsn, size_t stamped,
                             v1::StateComponent* state_out) {
  bool woke = false;
  {
    absl::MutexLock l(&mu_);
    ApplyDurableLocked(records, first_lsn, stamped, state_out);
    for (const log::Record& r : records) {
      if (live_wake_ && Pushes(r)) woke = live_dirty_.insert(r.room()).second || woke;
    }
  }
  if (woke) live_wake_();
}

void RoomTable::ApplyDurableLocked(const std::vector<log::Record>& records,
                                   uint64_t first_lsn, size_t stamped,
                                   v1::StateComponent* state_out) {
  uint64_t lsn = first_lsn;
  for (const log::Record& r : records) {
    Room* room = Find(r.room());
    if (r.has_opened() && room != nullptr) {
      room->coverage().durable = true;  // applied when it was made
    } else if (absl::Status s = Apply(r, state_out); !s.ok()) {
      ROOMCAST_LOG(kError, "publisher", "durable_record_not_applied")
          .Kv("room", r.room())
          .Kv("lsn", static_cast<int64_t>(lsn))
          .Kv("status", s);
      if (room != nullptr) room->MarkStalled(std::string(s.message()));
    }
    if (room != nullptr) Applied(room, lsn, r.ByteSizeLong());
    active_.insert(r.room());
    applied_end_ = std::max(applied_end_, ++lsn);
  }
  inflight_ -= stamped;
}

void RoomTable::RollBack(const std::vector<log::Record>& records,
                         size_t stamped) {
  bool woke = false;
  {
    absl::MutexLock l(&mu_);
    RollBackLocked(records, stamped);
    for (const log::Record& r : records) {
      // A withheld message is pushable again.
      if (live_wake_ && Pushes(r) && Find(r.room()) != nullptr) {
        woke = live_dirty_.insert(r.room()).second || woke;
      }
    }
  }
  if (woke) live_wake_();
}

void RoomTable::RollBackLocked(const std::vector<log::Record>& records, size_t stamped) {
  for (auto r = records.rbegin(); r != records.rend(); ++r) {
    Room* room = Find(r->room());
    if (room == nullptr) continue;
    if (r->has_opened() && !room->coverage().durable) {
      Forget(r->room());  // opened by this very write
    } else {
      room->RollBack(*r);
    }
  }
  inflight_ -= stamped;
}

void RoomTable::Applied(Room* room, uint64_t lsn, size_t bytes) {
  Room::Coverage& c = room->coverage();
  c.last_lsn = lsn;
  if (c.uncovered_from == 0) c.uncovered_from = lsn;
  c.applied_bytes += bytes;
  uncovered_.insert(room->name());
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

size_t RoomTable::open_rooms() {
  absl::MutexLock l(&mu_);
  return open_rooms_;
}

void RoomTable::MarkStalled(const std::string& room, std::string reason, int64_t from_ms) {
  absl::MutexLock l(&mu_);
  if (Room* r = Find(room)) {
    r->MarkStalled(std::move(reason), from_ms);
    active_.insert(room);  // its next round publishes the stalled manifest
  }
}

void RoomTable::Unstall(const std::string& room) {
  absl::MutexLock l(&mu_);
  if (Room* r = Find(room)) {
    r->Unstall();
    active_.insert(room);
  }
}

size_t RoomTable::stalled_rooms() {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [name, room] : rooms_) n += room->stalled();
  return n;
}

}  // namespace roomcast::publisher::internal
