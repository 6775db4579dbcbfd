// One room's content between ingest and publication, and the one place where
// it becomes objects (DESIGN §1, §3, §5): when the watermark passes a bucket,
// its actions become the action segment (cap applied, keyed peer hint), its
// peer messages one peer object per recipient, complete rollup windows their
// rollup, and state changes their state objects and the snapshot after them.
// The manifest builder is fed on the way; building and publishing the
// manifest (the one mutable object) stays with the caller.
//
// Pure and deterministic: no clock (times come in with the messages and the
// watermark), no I/O. The same additions closed at the same watermarks give
// the same bytes, which is what lets the publisher re-publish after a crash
// and what lets tests drive the very code the publisher runs.
//
//   RoomCloser room({.identity = {.room = "lobby", .epoch = e, ...},
//                    .hint_secret = secret});
//   ROOMCAST_RETURN_IF_ERROR(room.AddAction(message));   // seq, ts_ms set
//   room.AddPeer(peer_message);
//   std::vector<ClosedObject> out;
//   room.Close(watermark_ms, &out);   // upload in this order, then
//   Upload(room.manifest().Build(now_ms, watermark_ms));  // the manifest
#ifndef ROOMCAST_SEGMENTER_ROOM_CLOSER_H_
#define ROOMCAST_SEGMENTER_ROOM_CLOSER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "roomcast/v1/message.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/checkpoint.pb.h"
#include "segmenter/manifest.h"
#include "segmenter/naming.h"
#include "segmenter/segment.h"
#include "segmenter/state.h"

namespace roomcast::segmenter {

struct RoomCloserOptions {
  // Room, epoch and config (bucket_ms, rollup_ms, action_cap_per_s).
  ManifestIdentity identity;
  std::string hint_secret;  // the room secret users' hint keys derive from
  uint64_t state_version_base = 0;  // see RoomState
};

// One object a close makes, in upload order.
struct ClosedObject {
  ObjectClass cls = ObjectClass::kActions;  // kActions: segment or rollup
  std::string path;
  std::string bytes;
  // The earliest time the object holds: a publisher watermark must stay
  // below it until the origin has the object (a bucket's or rollup's last
  // ms; a state set's time; the earliest of those for the snapshot).
  int64_t gate_ms = 0;
  // A segment or rollup rendered with takedown stubs (TakeDown): the seqs
  // stubbed, ascending, and the digest of the object as it would be without
  // them (what the origin may hold from before the takedown).
  std::vector<uint64_t> stubbed;
  std::string unstubbed_digest;
};

class RoomCloser {
 public:
  explicit RoomCloser(RoomCloserOptions options);

  // An action, sequenced and stamped. kFailedPrecondition if its bucket is
  // already closed or it goes back in seq or time (see Bucketer::Add).
  absl::Status AddAction(v1::Message m);
  // A peer message for m.recipient(), in the bucket of m.ts_ms(), and its
  // keyed notice (v1::Notice.peer) among the bucket's records.
  void AddPeer(v1::Message m);
  // As RoomState::Set; the component is published at the next Close, and
  // its notice (StateNotice) goes among bucket(ts_ms)'s records.
  // Components expiring at or before `ts_ms` are removed first, as a Close
  // through `ts_ms` would have: the sets' times, not when Close ran, decide
  // where a removal falls among them, so a replay makes the same versions.
  absl::StatusOr<v1::StateComponent> SetState(const std::string& name,
                                              google::protobuf::Value value,
                                              int64_t ts_ms,
                                              std::string set_by,
                                              int64_t expires_ms = 0);
  // A component still there expires at this time; 0 if none does. The
  // Close through it removes it (a new snapshot and manifest).
  int64_t next_expiry_ms() const { return state_.next_expiry_ms(); }
  void End() { manifest_.End(); }
  // A retraction before publication (Bucketer::FindOpen, Bucketer::Retract).
  const v1::Message* FindOpen(uint64_t seq) const { return bucketer_.FindOpen(seq); }
  bool RetractOpen(uint64_t seq) { return bucketer_.Retract(seq); }
  // For the publisher's live pusher (DESIGN §10): open bucket `k`'s actions
  // in seq order, retracted ones' tombstones (no body) included so it skips
  // them; null if `k` holds none or is closed. Valid until the next
  // non-const call. OnlineCap(p.limit, p.max_bytes) with
  // p = SegmentParamsFor(k), fed these minus the tombstones in order,
  // admits exactly the records k's segment will hold (BuildSegment).
  const std::vector<v1::Message>* OpenMessages(int64_t k) const {
    return bucketer_.OpenMessages(k);
  }
  // The open buckets holding actions, ascending.
  std::vector<int64_t> OpenBuckets() const { return bucketer_.OpenIndexes(); }
  // What bucket `k`'s segment is built with: room, epoch, D, the cap limit
  // and the byte budget.
  SegmentParams SegmentParamsFor(int64_t k) const;
  // Seqs taken down (DESIGN §11): every segment and rollup closed from now
  // on holds their stubs instead (segmenter/takedown.h). Keeps the newest
  // kMaxTakenDown.
  static constexpr size_t kMaxTakenDown = 4096;
  void TakeDown(const std::vector<uint64_t>& seqs);
  const std::set<uint64_t>& taken_down() const { return taken_down_; }
  // A takedown replaced the object at `path` (ManifestBuilder::ReplaceDigest
  // for one of this room's segments; anything else changes nothing).
  void Replaced(const std::string& path, const std::string& old_digest,
                const std::string& new_digest);

  // Closes every bucket ending at or before `watermark_ms` and appends what
  // that makes to `out`: per bucket its peer objects then its segment (a
  // bucket with only peer messages gets an empty segment carrying the hint),
  // each rollup once its window is complete, then every state object set
  // since the last close and the snapshot of them all.
  void Close(int64_t watermark_ms, std::vector<ClosedObject>* out);
  // After a restart: closes what the origin already has (every bucket
  // before `through_ms`, state set before it) without making objects, so
  // the manifest and the rollup window are as they were.
  void Skip(int64_t through_ms);

  // Actions, peer messages or state changes not closed yet.
  bool HasUnclosed() const;
  // Closed buckets waiting for their rollup window to end.
  bool rollup_pending() const { return !rollup_.empty(); }
  size_t open_messages() const { return bucketer_.open_messages(); }
  int64_t watermark_ms() const { return bucketer_.watermark_ms(); }

  const ManifestIdentity& identity() const { return manifest_.identity(); }
  // Where the room's objects live: /v1/private/ for a private room.
  Scope scope() const {
    return identity().config.private_() ? Scope::kPrivate : Scope::kPublic;
  }
  const std::string& hint_secret() const { return hint_secret_; }
  const RoomState& state() const { return state_; }
  const ManifestBuilder& manifest() const { return manifest_; }

  // Everything the additions and closes so far built, as data
  // (checkpoint.proto): a closer of the same options restored from it makes
  // the same objects, byte for byte, from the same later calls.
  RoomCloserCheckpoint Checkpoint() const;
  // Replaces this closer's content with a checkpoint's. The checkpoint is
  // untrusted (it was read from disk): anything a closer of these options
  // could not have made is kInvalidArgument, and this closer is unchanged.
  absl::Status Restore(const RoomCloserCheckpoint& c);

 private:
  // Peer messages by bucket, then recipient.
  using PeerBuckets = std::map<int64_t, std::map<std::string, v1::PeerBatch>>;
  struct PendingState {
    std::string component;
    uint64_t version = 0;
    int64_t ts_ms = 0;
  };
  int64_t bucket_ms() const { return identity().config.bucket_ms(); }
  int64_t rollup_ms() const { return identity().config.rollup_ms(); }
  void CloseBuckets(int64_t watermark_ms, std::vector<ClosedObject>* out);
  void CloseBucket(int64_t k, std::vector<v1::Message> messages,
                   std::vector<ClosedObject>* out);
  // The bucket's peer objects, and the hint of their recipients (none
  // without peer messages).
  std::optional<v1::PeerHint> ClosePeers(int64_t k,
                                         std::vector<ClosedObject>* out);
  void AddToRollup(const v1::ActionSegment& segment,
                   std::vector<ClosedObject>* out);
  void FlushRollup(std::vector<ClosedObject>* out);
  // `seg` as an object: with the stubs of taken-down seqs it holds.
  ClosedObject Render(v1::ActionSegment seg, std::string path, int64_t gate_ms,
                      std::string* digest = nullptr) const;
  void CloseState(std::vector<ClosedObject>* out);
  // RoomState::Expire, with each removal pending publication.
  void ExpireState(int64_t through_ms);
  // Restore's checks of the parts that refer to each other.
  absl::Status RestorePeers(const RoomCloserCheckpoint& c, int64_t watermark,
                            PeerBuckets* out) const;
  absl::Status CheckPending(const RoomCloserCheckpoint& c,
                            const RoomState& state) const;
  // The checkpoint's rollup parts (those of an older checkpoint made from
  // its segments), checked.
  absl::StatusOr<std::vector<RollupPart>> RestoreRollup(
      const RoomCloserCheckpoint& c, int64_t watermark) const;

  const std::string hint_secret_;
  Bucketer bucketer_;
  PeerBuckets peers_;
  RoomState state_;
  std::vector<PendingState> pending_state_;
  ManifestBuilder manifest_;
  int64_t rollup_index_ = 0;
  // The window's non-empty buckets, up to the first over the budget.
  std::vector<RollupPart> rollup_;
  int64_t rollup_weight_ = 0;  // their RollupWeight()s
  bool rollup_cut_ = false;    // the last one is over the budget
  std::set<uint64_t> taken_down_;
};

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_ROOM_CLOSER_H_
