// One room inside the publisher: its sequencer, its open buckets, its state,
// and what it still has to publish.
//
// A Room is driven in two phases so that replaying the durable log rebuilds
// it exactly. Before the durable write, the sequencer assigns `seq` and a
// receive time (Stamp / NextSeq); after it, Apply() takes the record, the
// same function recovery calls for every logged record. Close() then turns
// closed buckets, state changes and a new manifest into objects to upload,
// deterministically: re-publishing after a crash yields the same bytes.
//
// Not thread-safe; the Publisher guards every room with its mutex.
//
//   Room room({.room = "lobby", .publisher = "pub-1", .config = cfg, ...});
//   m.set_seq(room.NextSeq()); m.set_ts_ms(room.Stamp(now, floor));
//   ... durable write of the record ...
//   room.Apply(record);
//   for (Upload& u : room.Close(watermark, now)) uploader.Put(...);
#ifndef ROOMCAST_PUBLISHER_ROOM_H_
#define ROOMCAST_PUBLISHER_ROOM_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "publisher/log.pb.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/manifest.h"
#include "segmenter/state.h"

namespace roomcast::publisher {

inline constexpr int64_t kNoGate = std::numeric_limits<int64_t>::max();

// One object for the origin, in upload order.
struct Upload {
  std::string path;
  std::string bytes;
  // The publisher watermark must stay below this until the object is
  // acknowledged (the last ms of its bucket; kNoGate for manifests).
  int64_t gate_ms = kNoGate;
  uint64_t manifest_version = 0;  // non-zero for a manifest
};

struct RoomIdentity {
  std::string room;
  std::string publisher;
  v1::RoomConfig config;
  uint64_t epoch = 0;
  int64_t opened_ms = 0;
  std::string hint_secret;  // the room secret peer hint keys derive from
};

class Room {
 public:
  Room(RoomIdentity id, int64_t idempotency_window_ms);

  const RoomIdentity& id() const { return id_; }
  bool ended() const { return manifest_.ended(); }

  // --- Sequencing, before the durable write ---
  uint64_t NextSeq() { return ++seq_; }
  uint64_t NextPeerSeq() { return ++peer_seq_; }
  // A receive time: monotonic, and never before `floor_ms` (the publisher's
  // closed-through time), so a message is never late for its bucket.
  int64_t Stamp(int64_t now_ms, int64_t floor_ms);
  // The reply an earlier message with this id from this sender got, if
  // still within the window.
  const v1::PostResult* FindReply(absl::string_view sender,
                                  absl::string_view client_msg_id) const;
  // The reply a message (stamped and sequenced) gets.
  v1::PostResult ReplyFor(const v1::Message& m) const;
  // kResourceExhausted if setting `component` would add one too many.
  absl::Status CanSetState(const std::string& component) const;

  // No more writes once an end is on its way to the log.
  void MarkEnding() { ending_ = true; }
  bool accepting() const { return !ending_ && !ended(); }
  // Reserves a reply for (sender, client_msg_id) so a duplicate sequenced
  // in the same log batch gets it too.
  void RememberReply(absl::string_view sender, absl::string_view id,
                     bool peer, const v1::PostResult& reply, int64_t ts_ms);
  const v1::PostResult* FindPeerReply(absl::string_view sender,
                                      absl::string_view id) const;

  // --- After the durable write, and on replay ---
  // `state_out` (may be null) receives the component a state record set.
  absl::Status Apply(const log::Record& record,
                     v1::StateComponent* state_out = nullptr);

  // --- Publication ---
  // Closes every bucket ending at or before `watermark_ms` and returns the
  // objects that makes, in upload order: peer batches, segments, rollups,
  // state objects, snapshot, and the manifest last (if it changed).
  std::vector<Upload> Close(int64_t watermark_ms, int64_t now_ms);
  // Recovery: as Close, for what the origin already acknowledged (everything
  // before `uploaded_through_ms`), producing nothing to upload.
  void Recover(int64_t uploaded_through_ms);
  // After recovery: the manifest versions the origin may hold, so the next
  // one published is newer.
  void RestoreManifestProgress(const log::RoomProgress& p);
  // True while anything is open, pending or unpublished.
  bool Active() const;
  // As Active, but a rollup window still filling does not count (it closes
  // on its own time; the log rebuilds it after a restart).
  bool Unpublished() const;

  uint64_t last_seq() const { return seq_; }
  uint64_t manifest_version() const;

 private:
  struct PendingState {
    std::string component;
    uint64_t version = 0;
    int64_t ts_ms = 0;
  };
  void ApplyMessage(const v1::Message& m, const std::string& client_msg_id);
  void Remember(const std::string& key, v1::PostResult reply, int64_t ts_ms);
  void CloseBuckets(int64_t watermark_ms, std::vector<Upload>* out);
  void CloseBucket(int64_t k, std::vector<v1::Message> messages,
                   std::vector<Upload>* out);
  void AddToRollup(const v1::ActionSegment& segment, std::vector<Upload>* out);
  void FlushRollup(std::vector<Upload>* out);
  void PublishState(std::vector<Upload>* out);
  int64_t rollup_ms() const { return id_.config.rollup_ms(); }

  bool ending_ = false;

  const RoomIdentity id_;
  const int64_t idempotency_window_ms_;
  uint64_t seq_ = 0;
  uint64_t peer_seq_ = 0;
  segmenter::MonotonicStamper stamper_;

  segmenter::Bucketer bucketer_;
  // Peer messages by bucket, then recipient.
  std::map<int64_t, std::map<std::string, v1::PeerBatch>> peers_;
  segmenter::RoomState state_;
  std::vector<PendingState> pending_state_;
  segmenter::ManifestBuilder manifest_;
  uint64_t version_offset_ = 0;    // added to the builder's version
  uint64_t published_version_ = 0;

  int64_t rollup_index_ = 0;
  std::vector<v1::ActionSegment> rollup_;  // non-empty buckets of the window

  // client_msg_id -> reply, evicted in ts order after the window. The
  // expiry queue exists only while it holds something: libstdc++'s
  // std::deque allocates ~540 bytes even when empty, a quarter of an idle
  // room's budget (DESIGN §9: 2 KB per room; bench/idle_rooms.sh).
  absl::flat_hash_map<std::string, v1::PostResult> replies_;
  std::unique_ptr<std::deque<std::pair<int64_t, std::string>>> reply_expiry_;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_ROOM_H_
