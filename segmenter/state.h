// A room's state components and their versions (DESIGN §1, §5).
//
// Each Set makes a new partial version of one component and bumps the room's
// total version by one; both count up from `version_base` + 1. They name
// immutable objects (the component at its partial version, the snapshot at a
// total version) whose URLs carry no epoch, so a re-created room must not
// reuse an earlier epoch's numbers: the publisher passes a base that grows
// with time (its epoch), while tests may use 0 (versions 1, 2, 3, ...).
// The history is kept so a snapshot can be made at any past total version;
// Compact() drops what no snapshot from a given version on needs.
//
//   RoomState st("lobby", /*epoch=*/1);
//   auto c = st.Set("title", TitleValue, now_ms, "anchor-1");  // c->version()
//   v1::StateSnapshot snap = *st.Snapshot(st.total_version());
#ifndef ROOMCAST_SEGMENTER_STATE_H_
#define ROOMCAST_SEGMENTER_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/checkpoint.pb.h"

namespace roomcast::segmenter {

inline constexpr size_t kMaxComponents = 256;
// What a snapshot spends on one component besides its value (room, name,
// versions, time, setter), at most.
inline constexpr int64_t kComponentOverheadBytes = 256;

class RoomState {
 public:
  RoomState(std::string room, uint64_t epoch, uint64_t version_base = 0)
      : room_(std::move(room)), epoch_(epoch), base_(version_base) {}

  // Sets a component. kInvalidArgument for a bad name; kResourceExhausted
  // past kMaxComponents components. With `expires_ms` > 0 the component
  // is removed by the first Expire() through that time.
  absl::StatusOr<v1::StateComponent> Set(const std::string& name,
                                         google::protobuf::Value value,
                                         int64_t ts_ms, std::string set_by,
                                         int64_t expires_ms = 0);

  // Removes every component expiring at or before `through_ms`, earliest
  // first (then by name), each as a new total version: the removal is kept
  // as an entry without a value (its partial version too, so a later Set
  // never reuses a published version). Returns those entries. Expiry is a
  // function of the sets and `through_ms` alone, so a replayed log makes
  // the same versions if it expires through the same times.
  std::vector<v1::StateComponent> Expire(int64_t through_ms);
  // The earliest expiry of a component still there; 0 if none expires.
  int64_t next_expiry_ms() const;
  // A removal entry (see Expire), never published as a component.
  static bool IsRemoval(const v1::StateComponent& c) { return !c.has_value(); }

  // Whether Set(name, a value of `value_bytes`) keeps the room within
  // kMaxComponents and its snapshot within `max_snapshot_bytes`:
  // kResourceExhausted for one component too many, kOutOfRange (413) for
  // a snapshot too large.
  absl::Status CanSet(const std::string& name, size_t value_bytes,
                      int64_t max_snapshot_bytes) const;

  // 0 until the first Set.
  uint64_t total_version() const { return total_version_; }
  // Every present component's partial version, sorted by name.
  std::vector<v1::ComponentVersion> Versions() const;
  // A component at a partial version; kNotFound if it never had it (or it
  // was compacted away).
  absl::StatusOr<v1::StateComponent> Get(const std::string& name,
                                         uint64_t version) const;
  // Whether `name` has an entry (a removal included) at partial `version`.
  bool Holds(const std::string& name, uint64_t version) const;
  // Every component as it was at total version `v` (0 < v <= current),
  // sorted by name. kNotFound outside that range or before the compacted
  // floor.
  absl::StatusOr<v1::StateSnapshot> Snapshot(uint64_t v) const;
  // Forgets values that no snapshot at total version >= v needs.
  void Compact(uint64_t v);

  // Everything above as data (checkpoint.proto), and back. Restore takes
  // only what a RoomState of this room, epoch and base could have made
  // (valid names, versions growing from the base, entries of this room);
  // kInvalidArgument otherwise, leaving this unchanged.
  StateCheckpoint Checkpoint() const;
  absl::Status Restore(const StateCheckpoint& c);

 private:
  // Appends a checkpoint's entry to `h` after checking it against `h`.
  absl::Status RestoreEntry(const v1::StateComponent& c,
                            std::vector<v1::StateComponent>& h,
                            uint64_t total) const;

  // Components present now (removed ones keep a history entry).
  size_t LiveCount() const;

  std::string room_;
  uint64_t epoch_;
  uint64_t base_;
  uint64_t total_version_ = 0;
  uint64_t floor_ = 0;  // snapshots below this version were compacted away
  // Each component's history, ascending version.
  std::map<std::string, std::vector<v1::StateComponent>> history_;
};

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_STATE_H_
