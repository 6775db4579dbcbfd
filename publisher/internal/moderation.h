// What moderation keeps for one room (DESIGN §11): its live settings, the
// seqs it retracted (the `redactions` component), its bans, who sent its
// latest actions (a sender may retract its own; a ban retracts the user's
// recent ones) and, not durably, when each audience user last posted (slow
// mode). Everything but the slow-mode clocks is rebuilt by replaying the
// log's records or restored from the room's checkpoint.
//
// Bounded: at most kMaxRedactions retracted seqs (those of the retention
// window, the oldest dropped first), kMaxRecent recent actions, kMaxBans
// bans (the earliest to end dropped first) and kMaxSlowUsers slow-mode
// clocks.
//
// Not thread-safe; the Room that owns it is guarded by the RoomTable.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_MODERATION_H_
#define ROOMCAST_PUBLISHER_INTERNAL_MODERATION_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"
#include "publisher/internal/takedowns.h"
#include "publisher/log.pb.h"

namespace roomcast::publisher::internal {

inline constexpr char kRedactionsComponent[] = "redactions";
inline constexpr char kSettingsComponent[] = "settings";

class RoomModeration {
 public:
  static constexpr size_t kMaxRedactions = 4096;
  static constexpr size_t kMaxRecent = 1024;
  static constexpr size_t kMaxBans = 4096;
  static constexpr size_t kMaxSlowUsers = 16384;
  static constexpr uint32_t kMaxSlowModeS = 3600;
  static constexpr uint32_t kMaxReviewDelayMs = 30000;

  const log::RoomSettings& settings() const { return settings_; }
  void SetSettings(const log::RoomSettings& s);
  uint32_t max_review_delay_ms() const { return max_review_delay_ms_; }
  // {"slow_mode_s": N, "review_delay_ms": H}: the `settings` component.
  google::protobuf::Value SettingsValue() const;

  // --- Recent actions ---
  void Remember(uint64_t seq, int64_t ts_ms, const std::string& sender);
  // Who sent `seq`, if it is among the recent ones.
  const std::string* SenderOf(uint64_t seq) const;
  // The receive time of `seq`, if it is among the recent ones.
  std::optional<int64_t> TimeOf(uint64_t seq) const;
  // `user`'s recent actions at or after `since_ms`, ascending.
  std::vector<uint64_t> RecentBy(const std::string& user,
                                 int64_t since_ms) const;

  // --- Retracted seqs ---
  bool Retracted(uint64_t seq) const { return redactions_.contains(seq); }
  // Adds `seqs` (retracted at `ts_ms`) and drops what is older than
  // `keep_from_ms` or past kMaxRedactions.
  void AddRedactions(const std::vector<uint64_t>& seqs, int64_t ts_ms,
                     int64_t keep_from_ms);
  // {"seqs": [...]}, ascending: the `redactions` component.
  google::protobuf::Value RedactionsValue() const;

  // --- Bans ---
  // When `user`'s ban ends, if it is banned at `now_ms`.
  std::optional<int64_t> BannedUntil(const std::string& user,
                                     int64_t now_ms) const;
  // Whether the ban of `user` was silent (false if there is none).
  bool SilentBan(const std::string& user) const;
  // until_ms 0 lifts the ban.
  void SetBan(const std::string& user, int64_t until_ms, bool silent);

  // --- Slow mode (in memory only) ---
  // How long `user` must wait before its next post at `now_ms`; 0: it may.
  int64_t SlowModeWaitMs(const std::string& user, int64_t now_ms) const;
  void Posted(const std::string& user, int64_t now_ms);

  // --- Takedowns (DESIGN §11) ---
  RoomTakedowns& takedowns() { return takedowns_; }
  const RoomTakedowns& takedowns() const { return takedowns_; }

  log::ModerationCheckpoint Checkpoint() const;
  // kInvalidArgument for a checkpoint this could not have made; then this
  // is unchanged.
  absl::Status Restore(const log::ModerationCheckpoint& c);

 private:
  struct Recent {
    uint64_t seq = 0;
    int64_t ts_ms = 0;
    std::string sender;
  };
  struct Ban {
    int64_t until_ms = 0;
    bool silent = false;
  };
  log::RoomSettings settings_;
  uint32_t max_review_delay_ms_ = 0;
  std::deque<Recent> recent_;               // ascending seq
  // seq -> when retracted; a B-tree keeps the 4096 entries at about a third
  // of a std::map's heap (no node per entry).
  absl::btree_map<uint64_t, int64_t> redactions_;
  absl::flat_hash_map<std::string, Ban> bans_;
  absl::flat_hash_map<std::string, int64_t> last_post_ms_;
  RoomTakedowns takedowns_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_MODERATION_H_
