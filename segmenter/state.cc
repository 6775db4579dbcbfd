#include "segmenter/state.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "segmenter/naming.h"

namespace roomcast::segmenter {
namespace {

// The last entry of a history at or before total version v, or null.
const v1::StateComponent* AtTotal(const std::vector<v1::StateComponent>& h,
                                  uint64_t v) {
  auto it = std::upper_bound(h.begin(), h.end(), v,
                             [](uint64_t v, const v1::StateComponent& c) {
                               return v < c.total_version();
                             });
  return it == h.begin() ? nullptr : &*std::prev(it);
}

}  // namespace

absl::Status RoomState::CanSet(const std::string& name, size_t value_bytes,
                               int64_t max_snapshot_bytes) const {
  auto found = history_.find(name);
  const bool exists = found != history_.end() && !IsRemoval(found->second.back());
  if (!exists && LiveCount() >= kMaxComponents) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a room has at most ", kMaxComponents, " components"));
  }
  int64_t bytes = static_cast<int64_t>(value_bytes) + kComponentOverheadBytes;
  for (const auto& [n, h] : history_) {
    if (n != name && !h.empty() && !IsRemoval(h.back())) {
      bytes += static_cast<int64_t>(h.back().value().ByteSizeLong()) + kComponentOverheadBytes;
    }
  }
  if (bytes > max_snapshot_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "the room's state snapshot would be about ", bytes, " bytes, more than ",
        max_snapshot_bytes, ": remove or shrink other components first"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::StateComponent> RoomState::Set(const std::string& name,
                                                  google::protobuf::Value value,
                                                  int64_t ts_ms,
                                                  std::string set_by,
                                                  int64_t expires_ms) {
  if (!IsValidId(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad component name '", name, "'"));
  }
  auto it = history_.find(name);
  const bool exists = it != history_.end() && !IsRemoval(it->second.back());
  if (!exists && LiveCount() >= kMaxComponents) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a room has at most ", kMaxComponents, " components"));
  }
  std::vector<v1::StateComponent>& h = history_[name];
  v1::StateComponent c;
  c.set_room(room_);
  c.set_epoch(epoch_);
  c.set_name(name);
  c.set_version(h.empty() ? base_ + 1 : h.back().version() + 1);
  total_version_ = (total_version_ == 0 ? base_ : total_version_) + 1;
  c.set_total_version(total_version_);
  c.set_ts_ms(ts_ms);
  c.set_set_by(std::move(set_by));
  *c.mutable_value() = std::move(value);
  if (expires_ms > 0) c.set_expires_ms(expires_ms);
  h.push_back(c);
  return c;
}

std::vector<v1::StateComponent> RoomState::Expire(int64_t through_ms) {
  std::vector<std::pair<int64_t, const std::string*>> due;
  for (const auto& [name, h] : history_) {
    const int64_t e = h.back().expires_ms();
    if (e > 0 && e <= through_ms && !IsRemoval(h.back())) due.emplace_back(e, &name);
  }
  std::sort(due.begin(), due.end(),
            [](const auto& a, const auto& b) {
              return a.first != b.first ? a.first < b.first : *a.second < *b.second;
            });
  std::vector<v1::StateComponent> out;
  for (const auto& [e, name] : due) {
    std::vector<v1::StateComponent>& h = history_[*name];
    v1::StateComponent c;
    c.set_room(room_);
    c.set_epoch(epoch_);
    c.set_name(*name);
    c.set_version(h.back().version() + 1);
    total_version_ = (total_version_ == 0 ? base_ : total_version_) + 1;
    c.set_total_version(total_version_);
    c.set_ts_ms(e);
    h.push_back(c);
    out.push_back(std::move(c));
  }
  return out;
}

int64_t RoomState::next_expiry_ms() const {
  int64_t next = 0;
  for (const auto& [name, h] : history_) {
    const int64_t e = h.back().expires_ms();
    if (e > 0 && !IsRemoval(h.back()) && (next == 0 || e < next)) next = e;
  }
  return next;
}

size_t RoomState::LiveCount() const {
  size_t n = 0;
  for (const auto& [name, h] : history_) n += IsRemoval(h.back()) ? 0 : 1;
  return n;
}

std::vector<v1::ComponentVersion> RoomState::Versions() const {
  std::vector<v1::ComponentVersion> out;
  out.reserve(history_.size());
  for (const auto& [name, h] : history_) {
    if (IsRemoval(h.back())) continue;
    v1::ComponentVersion& cv = out.emplace_back();
    cv.set_name(name);
    cv.set_version(h.back().version());
  }
  return out;
}

absl::StatusOr<v1::StateComponent> RoomState::Get(const std::string& name,
                                                  uint64_t version) const {
  auto it = history_.find(name);
  if (it != history_.end()) {
    for (const v1::StateComponent& c : it->second) {
      if (c.version() == version && !IsRemoval(c)) return c;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("component '", name, "' has no version ", version));
}

bool RoomState::Holds(const std::string& name, uint64_t version) const {
  auto it = history_.find(name);
  if (it == history_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const v1::StateComponent& c) { return c.version() == version; });
}

absl::StatusOr<v1::StateSnapshot> RoomState::Snapshot(uint64_t v) const {
  if (v <= base_ || v > total_version_ || v < floor_) {
    return absl::NotFoundError(absl::StrCat("no snapshot at total version ", v));
  }
  v1::StateSnapshot s;
  s.set_room(room_);
  s.set_epoch(epoch_);
  s.set_total_version(v);
  for (const auto& [name, h] : history_) {
    const v1::StateComponent* c = AtTotal(h, v);
    if (c != nullptr && !IsRemoval(*c)) *s.add_components() = *c;
  }
  return s;
}

void RoomState::Compact(uint64_t v) {
  if (v <= floor_) return;
  floor_ = std::min(v, total_version_);
  for (auto& [name, h] : history_) {
    // Keep the entry in force at floor_ and everything after it.
    const v1::StateComponent* keep = AtTotal(h, floor_);
    if (keep == nullptr) continue;
    h.erase(h.begin(), h.begin() + (keep - h.data()));
  }
}

StateCheckpoint RoomState::Checkpoint() const {
  StateCheckpoint c;
  c.set_total_version(total_version_);
  c.set_floor(floor_);
  for (const auto& [name, h] : history_) {
    for (const v1::StateComponent& e : h) *c.add_history() = e;
  }
  return c;
}

absl::Status RoomState::Restore(const StateCheckpoint& c) {
  const uint64_t total = c.total_version();
  if (total != 0 && total <= base_) {
    return absl::InvalidArgumentError("checkpoint: total version below base");
  }
  if (c.floor() > total || (total == 0 && !c.history().empty())) {
    return absl::InvalidArgumentError("checkpoint: bad state versions");
  }
  std::map<std::string, std::vector<v1::StateComponent>> history;
  std::string last_name;
  for (const v1::StateComponent& e : c.history()) {
    if (e.name() != last_name && history.contains(e.name())) {
      return absl::InvalidArgumentError("checkpoint: components out of order");
    }
    last_name = e.name();
    ROOMCAST_RETURN_IF_ERROR(RestoreEntry(e, history[e.name()], total));
  }
  size_t live = 0;
  for (const auto& [name, h] : history) live += IsRemoval(h.back()) ? 0 : 1;
  if (live > kMaxComponents) {
    return absl::InvalidArgumentError("checkpoint: too many components");
  }
  total_version_ = total;
  floor_ = c.floor();
  history_ = std::move(history);
  return absl::OkStatus();
}

absl::Status RoomState::RestoreEntry(const v1::StateComponent& c,
                                     std::vector<v1::StateComponent>& h,
                                     uint64_t total) const {
  const bool ours = c.room() == room_ && c.epoch() == epoch_ &&
                    IsValidId(c.name()) && c.version() > base_ &&
                    c.total_version() > base_ && c.total_version() <= total;
  const bool grows = h.empty() || (c.version() > h.back().version() &&
                                   c.total_version() > h.back().total_version());
  if (!ours || !grows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint: bad entry of component '", c.name(), "'"));
  }
  h.push_back(c);
  return absl::OkStatus();
}

}  // namespace roomcast::segmenter
