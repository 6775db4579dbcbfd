// RoomTable's side of the log lifecycle (DESIGN §14): recovery from
// checkpoints, stored replies and the records after them; checkpoint rounds
// and the trim point; forgetting ended rooms after their retention.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "publisher/internal/log_keys.h"
#include "publisher/internal/room_table.h"
#include "segmenter/bucketer.h"

namespace roomcast::publisher::internal {

absl::StatusOr<RoomProgressList> RoomTable::Recover(
    LogStore& log, int64_t uploaded_through_ms,
    const absl::flat_hash_map<std::string, log::RoomProgress>& progress,
    const std::vector<std::string>& unreadable) {
  absl::MutexLock l(&mu_);
  absl::flat_hash_map<std::string, uint64_t> covered;
  ROOMCAST_RETURN_IF_ERROR(RestoreAll(log, &covered));
  auto stall = [&](const std::string& room, const std::string& key,
                   const std::string& why) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::optional<uint64_t> lsn = ParseLogKey(key);
    auto c = covered.find(room);
    if (lsn && c != covered.end() && *lsn <= c->second) return;  // not needed
    if (Room* r = Find(room))
      r->MarkStalled(absl::StrCat("quarantined: ", why));
  };
  ROOMCAST_RETURN_IF_ERROR(log.Replay(
      [&](uint64_t lsn, const log::Record& r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        auto c = covered.find(r.room());
        if (c != covered.end() && lsn <= c->second) return absl::OkStatus();
        ROOMCAST_RETURN_IF_ERROR(Apply(r));
        Room* room = Find(r.room());
        room->coverage().durable = true;
        Applied(room, lsn, r.ByteSizeLong());
        return absl::OkStatus();
      },
      stall));
  applied_end_ = log.next_lsn();
  trim_point_ = log.trim_point();
  closed_through_ = uploaded_through_ms;
  RoomProgressList out;
  for (auto& [name, room] : rooms_) {
    room->Recover(uploaded_through_ms);
    // Stamps never go below what any room has closed.
    closed_through_ = std::max(closed_through_, room->closed_through_ms());
    auto it = progress.find(name);
    const log::RoomProgress p =
        it == progress.end() ? log::RoomProgress() : it->second;
    room->RestoreManifestProgress(p);
    if (std::find(unreadable.begin(), unreadable.end(), name) !=
        unreadable.end()) {
      room->MarkStalled("its manifest progress is unreadable");
    }
    out.emplace_back(name, p);
    active_.insert(name);  // the first round re-publishes what needs it
  }
  return out;
}

absl::Status RoomTable::RestoreAll(
    LogStore& log, absl::flat_hash_map<std::string, uint64_t>* covered) {
  // A checkpoint or reply chunk that cannot be read is quarantined by the
  // log; its room's later records then stall it (or make it anew).
  auto lost = [](const std::string&, const std::string&, const std::string&) {};
  auto check = [](const log::RoomCheckpoint& c) {
    return c.dropped() ? absl::OkStatus() : CheckConfig(c.opened().config());
  };
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<log::RoomCheckpoint> cps,
                            log.ReadCheckpoints(lost, check));
  for (const log::RoomCheckpoint& c : cps) {
    (*covered)[c.room()] = c.lsn();
    if (c.dropped()) {
      dropped_[c.room()] = c.lsn();
    } else {
      Restore(c);
    }
  }
  ROOMCAST_ASSIGN_OR_RETURN(auto replies, log.ReadReplies(lost));
  for (const auto& [name, list] : replies) {
    if (Room* room = Find(name)) {
      room->RestoreReplies(list);
      with_replies_.try_emplace(name, 0);
    }
  }
  return absl::OkStatus();
}

Room* RoomTable::Restore(const log::RoomCheckpoint& c) {
  log::Record opened;
  opened.set_room(c.room());
  *opened.mutable_opened() = c.opened();
  Room* room = Open(opened);
  if (absl::Status s = room->Restore(c); !s.ok()) {
    ROOMCAST_LOG(kError, "publisher", "checkpoint_not_restored")
        .Kv("room", c.room())
        .Kv("status", s);
    room->MarkStalled(absl::StrCat("checkpoint: ", s.message()));
  }
  if (room->ended()) Closed(room);
  Room::Coverage& cov = room->coverage();
  cov.last_lsn = c.lsn();
  cov.durable = true;
  cov.checkpoint_bytes =
      static_cast<uint32_t>(std::min<size_t>(c.ByteSizeLong(), UINT32_MAX));
  return room;
}

RoomTable::CheckpointRound RoomTable::SnapshotCheckpoints(
    int64_t now_ms, const absl::flat_hash_set<std::string>& waiting, bool all) {
  CheckpointRound round;
  absl::MutexLock l(&mu_);
  for (auto it = ended_.begin(); it != ended_.end() && it->first <= now_ms;
       ++it) {
    const std::string& name = it->second;
    Room* room = Find(name);
    if (room == nullptr || waiting.contains(name) || !DueDrop(*room, now_ms)) {
      continue;
    }
    log::RoomCheckpoint& c = round.write.checkpoints.emplace_back();
    c.set_room(name);
    c.set_lsn(room->coverage().last_lsn);
    c.set_dropped(true);
    round.write.forget.push_back(name);
    round.dropped.push_back(name);
  }
  uint64_t bytes = 0;
  const LogLifecycle& o = options_.lifecycle;
  for (const std::string& name : uncovered_) {
    if (round.saved.size() >= o.max_rooms_per_round ||
        bytes >= o.max_bytes_per_round) {
      break;
    }
    Room* room = Find(name);
    if (room != nullptr && !waiting.contains(name) &&
        (all ? room->coverage().durable && !room->stalled()
             : DueCheckpoint(*room, now_ms))) {
      AddCheckpoint(name, *room, now_ms, &round);
      bytes += round.write.checkpoints.back().ByteSizeLong();
    }
  }
  const uint64_t trim = TrimPoint(round);
  if (trim > trim_point_) round.write.trim_to = trim;
  for (const auto& [name, lsn] : dropped_) {
    if (lsn < std::max(trim, trim_point_) && !rooms_.contains(name)) {
      round.write.erase_checkpoints.push_back(name);
    }
  }
  return round;
}

bool RoomTable::DueCheckpoint(Room& room, int64_t now_ms) const {
  const Room::Coverage& c = room.coverage();
  if (!c.durable || c.uncovered_from == 0 || room.stalled()) return false;
  const LogLifecycle& o = options_.lifecycle;
  const int64_t quiet = now_ms - room.last_ts_ms();
  const uint64_t uncovered = c.uncovered_bytes();
  if ((quiet >= o.quiet_ms && uncovered * 8 >= c.checkpoint_bytes) ||
      quiet >= o.idle_ms) {
    return true;
  }
  const uint64_t lag = applied_end_ - c.uncovered_from;
  const bool big =
      uncovered >= std::max<uint64_t>(c.checkpoint_bytes, o.min_bytes);
  if (!big && lag < o.max_lag_records) return false;
  // A busy room is checkpointed just after a bucket closed: its open
  // bucket, which the records after the checkpoint would hold as well, is
  // then nearly empty (unless the log lags far behind it).
  const int64_t d = room.config().bucket_ms();
  const int64_t into_bucket =
      now_ms - segmenter::BucketStart(segmenter::BucketIndex(now_ms, d), d);
  return into_bucket < 2 * std::max<int64_t>(o.period_ms, 20) ||
         lag >= 4 * o.max_lag_records;
}

bool RoomTable::DueDrop(Room& room, int64_t now_ms) const {
  return room.ended() && room.ended_ms() > 0 &&
         room.coverage().uncovered_from == 0 && !room.Active() &&
         now_ms >= ExpiryMs(room);
}

void RoomTable::AddCheckpoint(const std::string& name, Room& room,
                              int64_t now_ms, CheckpointRound* round) {
  Room::Coverage& cov = room.coverage();
  round->write.checkpoints.push_back(room.Checkpoint(cov.last_lsn));
  const std::vector<log::Reply>& replies = room.unsaved_replies();
  if (!replies.empty()) {
    LogStore::CheckpointWrite::Replies& r =
        round->write.replies.emplace_back();
    r.room = name;
    r.max_ts_ms = replies.back().ts_ms();
    r.lsn = cov.last_lsn;
    for (const log::Reply& reply : replies) *r.chunk.add_replies() = reply;
  }
  // Each expiry is a range delete: a room's expired chunks go now and
  // then, not at every checkpoint.
  auto expired = with_replies_.find(name);
  if (expired != with_replies_.end() &&
      now_ms - expired->second >= options_.lifecycle.reply_expiry_ms) {
    round->write.expire_replies.emplace_back(
        name, room.last_ts_ms() - options_.idempotency_window_ms);
    expired->second = now_ms;
  }
  round->saved.push_back({.room = name,
                          .replies = replies.size(),
                          .lsn = cov.last_lsn,
                          .applied_bytes = cov.applied_bytes});
}

uint64_t RoomTable::TrimPoint(const CheckpointRound& round) const {
  absl::flat_hash_set<absl::string_view> in_round;
  for (const CheckpointRound::Saved& s : round.saved) in_round.insert(s.room);
  uint64_t trim = applied_end_;
  for (const std::string& name : uncovered_) {
    auto it = rooms_.find(name);
    if (it == rooms_.end() || in_round.contains(name)) continue;
    const uint64_t from = it->second->coverage().uncovered_from;
    if (from != 0) trim = std::min(trim, from);
  }
  return trim;
}

std::vector<std::string> RoomTable::CommitCheckpoints(
    const CheckpointRound& round, bool written) {
  absl::MutexLock l(&mu_);
  if (!written) return {};
  for (const CheckpointRound::Saved& s : round.saved) {
    Room* room = Find(s.room);
    if (room == nullptr) continue;
    Room::Coverage& c = room->coverage();
    // Records applied since the snapshot have later LSNs: from the one
    // after it on is a safe (if early) start of what is not covered.
    c.uncovered_from = c.last_lsn > s.lsn ? s.lsn + 1 : 0;
    c.covered_bytes = s.applied_bytes;
    room->SavedReplies(s.replies);
    if (s.replies > 0) with_replies_.try_emplace(s.room, 0);
    if (c.uncovered_from == 0) uncovered_.erase(s.room);
  }
  for (const log::RoomCheckpoint& cp : round.write.checkpoints) {
    if (Room* room = Find(cp.room()); room != nullptr && !cp.dropped()) {
      room->coverage().checkpoint_bytes = static_cast<uint32_t>(
          std::min<size_t>(cp.ByteSizeLong(), UINT32_MAX));
    }
  }
  for (const std::string& name : round.dropped) {
    dropped_[name] =
        rooms_.contains(name) ? rooms_[name]->coverage().last_lsn : 0;
    Forget(name);
  }
  for (const std::string& name : round.write.erase_checkpoints) {
    dropped_.erase(name);
  }
  // A set keeps its table when emptied: 100,000 rooms opened at once would
  // otherwise cost their idle selves 40 bytes each from then on.
  if (uncovered_.empty() && uncovered_.capacity() > 1024) uncovered_ = {};
  if (round.write.trim_to > trim_point_) trim_point_ = round.write.trim_to;
  return round.dropped;
}

}  // namespace roomcast::publisher::internal
