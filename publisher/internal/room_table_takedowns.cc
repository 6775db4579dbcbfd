// RoomTable's view of its rooms' takedown jobs (DESIGN §11).
#include "publisher/internal/room_table.h"

namespace roomcast::publisher::internal {

std::vector<std::string> RoomTable::RoomsWithTakedowns() {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, room] : rooms_) {
    const RoomModeration* mod = room->moderation_if_any();
    if (mod != nullptr && !mod->takedowns().jobs().empty()) out.push_back(name);
  }
  return out;
}

std::optional<TakedownWork> RoomTable::Takedowns(const std::string& room) {
  absl::MutexLock l(&mu_);
  Room* r = Find(room);
  if (r == nullptr) return std::nullopt;
  TakedownWork w;
  w.room = room;
  if (const RoomModeration* mod = r->moderation_if_any()) {
    for (const auto& [id, job] : mod->takedowns().jobs()) w.jobs.push_back(job);
  }
  w.scope = r->scope();
  w.bucket_ms = r->config().bucket_ms();
  w.rollup_ms = r->config().rollup_ms();
  w.opened_ms = r->opened_ms();
  w.closed_through_ms = r->closed_through_ms();
  w.retention_ms = int64_t{r->config().retention_s()} * 1000;
  w.recent = r->recent_segments();
  return w;
}

}  // namespace roomcast::publisher::internal
