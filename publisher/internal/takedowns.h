// What a room keeps of its takedowns (DESIGN §11): the jobs still running
// (each its request, the plan logged before each PUT and the paths done),
// the records of the `takedowns` state component, and its latest requests
// (so an object rendered with stubs later carries their reason and time).
// Rebuilt by replaying the log's Takedown* records or restored from the
// room's checkpoint, like the rest of RoomModeration.
//
// Bounded: at most kMaxJobs running (more is refused at ingest), the newest
// kMaxRecords records holding at most kMaxRecordSeqs seqs in all (the
// component stays far inside a state value's budget), kMaxRequests requests.
//
// Not thread-safe; the Room that owns it is guarded by the RoomTable.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWNS_H_
#define ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWNS_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"
#include "publisher/log.pb.h"

namespace roomcast::publisher::internal {

inline constexpr char kTakedownsComponent[] = "takedowns";

class RoomTakedowns {
 public:
  static constexpr size_t kMaxJobs = 64;
  static constexpr size_t kMaxRecords = 256;
  static constexpr size_t kMaxRecordSeqs = 4096;
  static constexpr size_t kMaxRequests = 32;

  uint64_t last_id() const { return last_id_; }
  // The id of a takedown being sequenced (its record not durable yet).
  uint64_t NextId() {
    next_id_ = std::max(next_id_, last_id_) + 1;
    return next_id_;
  }
  const std::map<uint64_t, log::TakedownJob>& jobs() const { return jobs_; }

  // A repeat: if every seq of `seqs` was taken down by a remembered
  // request, the latest such request's id and whether its job is finished.
  struct Covered {
    uint64_t id = 0;
    bool finished = false;
  };
  std::optional<Covered> Covering(const std::vector<uint64_t>& seqs) const;
  // The latest remembered request that took `seq` down; null if none.
  const log::Takedown* RequestFor(uint64_t seq) const;

  // --- Applying the log's records ---
  void Start(const log::Takedown& t);
  void Plan(const log::TakedownPlan& p);
  // True if the records (the component) changed.
  bool Done(const log::TakedownDone& d);
  // Whether `path` already has a record with `new_digest`.
  bool HasRecord(const std::string& path, const std::string& new_digest) const;

  // {"records": [{"path", "old_digest", "new_digest", "at_ms", "reason",
  // "seqs": ["12"]}]}, oldest first: the `takedowns` component.
  google::protobuf::Value Value() const;

  void Checkpoint(log::ModerationCheckpoint* c) const;
  // kInvalidArgument for a checkpoint this could not have made.
  absl::Status Restore(const log::ModerationCheckpoint& c);
  bool empty() const { return last_id_ == 0 && records_.empty(); }

 private:
  void AddRecord(const log::TakedownEntry& e);

  uint64_t last_id_ = 0;
  uint64_t next_id_ = 0;
  std::map<uint64_t, log::TakedownJob> jobs_;
  std::deque<log::TakedownEntry> records_;
  size_t record_seqs_ = 0;
  std::deque<log::Takedown> requests_;  // ascending id
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWNS_H_
