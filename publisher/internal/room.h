// One room inside the publisher: its sequencer, its idempotency window, and
// its content on the way to the origin (a segmenter::RoomCloser).
//
// A Room is driven in two phases so that replaying the durable log rebuilds
// it exactly. Before the durable write, the sequencer assigns `seq` and a
// receive time (Stamp / NextSeq); after it, Apply() takes the record, the
// same function recovery calls for every logged record. Close() then turns
// closed buckets, state changes and a new manifest into objects to upload,
// deterministically: re-publishing after a crash yields the same bytes.
//
// Not thread-safe; the RoomTable guards every room with its mutex.
//
//   Room room({.room = "lobby", .publisher = "pub-1", .config = cfg, ...});
//   m.set_seq(room.NextSeq()); m.set_ts_ms(room.Stamp(now, floor));
//   ... durable write of the record ...
//   room.Apply(record);
//   for (Upload& u : room.Close(watermark, now)) uploader.Put(...);
//
// Checkpoint() is what the applied records built, as data (log.proto);
// Restore() on a room of the same identity brings it back, so the records
// can be deleted (DESIGN §14). Only durable effects go into it: a seq or a
// reply handed out for a write still in flight is not.
#ifndef ROOMCAST_PUBLISHER_INTERNAL_ROOM_H_
#define ROOMCAST_PUBLISHER_INTERNAL_ROOM_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "publisher/internal/idempotency.h"
#include "publisher/internal/live_state.h"
#include "publisher/internal/moderation.h"
#include "publisher/log.pb.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/room_closer.h"

namespace roomcast::publisher::internal {

inline constexpr int64_t kNoGate = std::numeric_limits<int64_t>::max();

// One object for the origin, in upload order.
struct Upload {
  std::string path;
  std::string bytes;
  // The publisher watermark must stay below this until the object is
  // acknowledged (the last ms of its bucket; kNoGate for manifests).
  int64_t gate_ms = kNoGate;
  uint64_t manifest_version = 0;  // non-zero for a manifest
  // A segment or rollup rendered with takedown stubs (DESIGN §11): the
  // origin may hold it without them (a re-publication after a crash), so
  // it goes as a takedown PUT of these seqs, or a plain PUT where nothing
  // is stored; its record is logged first (RecordRendered).
  std::vector<uint64_t> stubbed;
  std::string unstubbed_digest;
  std::string new_digest;
  int64_t takedown_at_ms = 0;
  std::string takedown_reason;
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

  const std::string& name() const { return closer_.identity().room; }
  const v1::RoomConfig& config() const { return closer_.identity().config; }
  int64_t opened_ms() const { return closer_.identity().opened_ms; }
  const std::string& hint_secret() const { return closer_.hint_secret(); }
  bool ended() const { return closer_.manifest().ended(); }
  // The latest receive time made durable.
  int64_t last_ts_ms() const { return durable_ts_; }
  // When the end was applied (its record's time); 0 while live.
  int64_t ended_ms() const { return ended_ms_; }

  // A room that cannot be published as its log says (a record that could
  // not be replayed, unreadable progress, an object the origin refused)
  // stalls alone (DESIGN §15): it takes no writes, closes no bucket, and
  // publishes only a manifest saying STALLED from `from_ms` (buckets ending
  // after it are not closed at the origin, whatever the watermark says);
  // 0: from what it has closed so far. Unstall() lets it go on.
  void MarkStalled(std::string reason, int64_t from_ms = 0);
  void Unstall();
  bool stalled() const { return stalled_ != nullptr; }
  const std::string& stalled_reason() const {
    static const std::string* const kNone = new std::string();
    return stalled_ ? stalled_->reason : *kNone;
  }
  int64_t stalled_from_ms() const { return stalled_ ? stalled_->from_ms : 0; }

  // --- Sequencing, before the durable write ---
  uint64_t NextSeq() { return ++seq_; }
  uint64_t NextPeerSeq() { return ++peer_seq_; }
  // A receive time: monotonic, and never before `floor_ms` (the publisher's
  // closed-through time), so a message is never late for its bucket.
  int64_t Stamp(int64_t now_ms, int64_t floor_ms) {
    return stamper_.Stamp(now_ms, floor_ms);
  }
  // Replies by client_msg_id. Remembering one as a message is sequenced
  // lets a duplicate in the same log batch get it too.
  IdempotencyWindow& replies() { return replies_; }
  // The reply a message (stamped and sequenced) gets.
  v1::PostResult ReplyFor(const v1::Message& m) const;
  // kResourceExhausted if setting `component` would add one too many,
  // kOutOfRange if the room's snapshot would outgrow its budget.
  absl::Status CanSetState(const std::string& component,
                           const google::protobuf::Value& value) const;

  // --- Moderation (DESIGN §11) ---
  // Made on first use: most rooms are never moderated, but every room with
  // actions remembers its recent senders.
  RoomModeration& moderation();
  const RoomModeration* moderation_if_any() const { return mod_.get(); }
  // The last action seq made durable.
  uint64_t durable_seq() const { return durable_seq_; }
  // The action `seq` while its bucket is still open (not yet published,
  // the review delay included); null once it was published.
  const v1::Message* FindOpen(uint64_t seq) const { return closer_.FindOpen(seq); }
  // kResourceExhausted / kOutOfRange if the room's state could not take the
  // moderation component `name` (the room's components are full).
  absl::Status CanSetModerationState(const std::string& name) const;

  // No more writes once an end is on its way to the log.
  void MarkEnding() { ending_ = true; }
  bool accepting() const { return !ending_ && !ended(); }

  // --- After the durable write, and on replay ---
  // `state_out` (may be null) receives the component a state record set.
  absl::Status Apply(const log::Record& record,
                     v1::StateComponent* state_out = nullptr);
  // The write holding `record` failed: takes back what sequencing it did
  // (seq, peer seq, its reply, an end on its way).
  void RollBack(const log::Record& record);

  // --- Checkpoints (see the overview) ---
  // Covers every record applied so far; `lsn` is the last one's.
  log::RoomCheckpoint Checkpoint(uint64_t lsn) const;
  // For a room made from the checkpoint's `opened`: kInvalidArgument if the
  // checkpoint could not have been made by such a room (it is untrusted),
  // and then the room keeps only the checkpoint's seqs and times.
  absl::Status Restore(const log::RoomCheckpoint& c);
  // Replies made durable since the last SavedReplies, oldest first: each
  // checkpoint stores them (log::ReplyChunk), not the records.
  const std::vector<log::Reply>& unsaved_replies() const;
  void SavedReplies(size_t n);
  // Stored replies back into the window, oldest first.
  void RestoreReplies(const std::vector<log::Reply>& replies);
  // What of the room's log a checkpoint covers; kept by the RoomTable.
  struct Coverage {
    uint64_t last_lsn = 0;          // of the last record applied
    uint64_t uncovered_from = 0;    // first LSN no checkpoint covers; 0: none
    uint64_t applied_bytes = 0;     // of every record applied
    uint64_t covered_bytes = 0;     // ... when the last checkpoint was taken
    uint32_t checkpoint_bytes = 0;  // the last checkpoint's size
    bool durable = false;           // its `opened` record is durable
    uint64_t uncovered_bytes() const { return applied_bytes - covered_bytes; }
  };
  Coverage& coverage() { return coverage_; }
  const Coverage& coverage() const { return coverage_; }

  // --- Publication ---
  // Closes every bucket ending at or before `watermark_ms` and returns the
  // objects that makes, in upload order: peer batches, segments, rollups,
  // state objects, snapshot, and the manifest last (if it changed).
  std::vector<Upload> Close(int64_t watermark_ms, int64_t now_ms);
  // Recovery: as Close, for what the origin already acknowledged (everything
  // before `uploaded_through_ms`), producing nothing to upload.
  // A review delay holds the room's buckets back from the watermark: only
  // what the longest delay it ever had leaves behind is surely at the origin.
  void Recover(int64_t uploaded_through_ms) {
    const uint32_t delay = mod_ ? mod_->max_review_delay_ms() : 0;
    closer_.Skip(uploaded_through_ms > delay ? uploaded_through_ms - delay : uploaded_through_ms);
  }
  // After recovery: the manifest versions the origin may hold, so the next
  // one published is newer.
  void RestoreManifestProgress(const log::RoomProgress& p);
  // Every bucket ending at or before this was closed (a restored room may
  // be ahead of the publisher's recovered watermark).
  int64_t closed_through_ms() const { return closer_.watermark_ms(); }
  segmenter::Scope scope() const { return closer_.scope(); }
  // The manifest's recent non-empty segments (oldest first).
  std::vector<v1::SegmentRef> recent_segments() const;
  // True while anything is open, pending or unpublished.
  // A component waiting to expire keeps the room closed each round, so its
  // removal is published when it is due.
  bool Active() const {
    return Unpublished() || closer_.rollup_pending() || closer_.next_expiry_ms() > 0;
  }
  // As Active, but a rollup window still filling or a component still to
  // expire does not count (each comes on its own time; the log rebuilds it
  // after a restart).
  bool Unpublished() const;

  uint64_t manifest_version() const;

  // --- Live push (DESIGN §10; live_state.h) ---
  // The pusher's visit of the open buckets: RoomLive::Collect.
  int64_t CollectLive(int64_t now_ms, size_t* budget, bool* more, v1::LiveBatch* out,
                      std::vector<LiveSent>* sent);
  // The origin's ack of an append from CollectLive: RoomLive::Acked.
  bool LiveAcked(const LiveSent& sent, const v1::LiveAck& ack);
  // The append was surely not taken: RoomLive::NotTaken.
  void LiveNotTaken(const LiveSent& sent);
  // True if open action `seq` may have been streamed already: a retraction
  // of it is a `retract` record, not a tombstone.
  bool LivePushed(uint64_t seq) const;
  // A retraction before publication of `seq` is on its way to the log: it
  // is not pushed until the record is applied or rolled back.
  void WithholdLive(uint64_t seq) { live().Withhold(seq); }
  uint64_t epoch() const { return closer_.identity().epoch; }

 private:
  RoomLive& live();
  // What RoomLive reads of the open buckets.
  LiveInput LiveInputs() const;
  void ReleaseLive(const google::protobuf::RepeatedField<uint64_t>& seqs);
  absl::Status ApplyAction(const log::Action& a);
  void ApplyPeer(const log::Peer& p);
  absl::Status ApplyRetraction(const log::Retraction& r);
  absl::Status ApplySettings(const log::SettingsSet& s);
  absl::Status ApplyBan(const log::BanSet& b);
  absl::Status ApplyTakedown(const log::Takedown& t);
  absl::Status ApplyTakedownDone(const log::TakedownDone& d);
  // Adds a takedown's seqs to the `redactions` component.
  void RedactTakenDown(const log::Takedown& t);
  // Fills in the takedown that stubbed `u`'s seqs; if the room forgot it,
  // `end_ms` (the object's end) as its time and no reason.
  void DescribeStubs(Upload& u, int64_t end_ms) const;
  // Sets a component moderation owns (redactions, settings).
  absl::Status SetModerationState(const std::string& name, google::protobuf::Value value,
                                  int64_t ts_ms, const std::string& by);
  absl::Status ApplyState(const log::StateSet& s, v1::StateComponent* out);
  // What sequencing `m` did, again on replay: its receive time and, with a
  // client_msg_id, its reply.
  void Sequenced(const v1::Message& m, ReplyKind kind,
                 const std::string& client_msg_id);
  v1::PostResult ReplyAt(uint64_t seq, int64_t ts_ms) const;

  struct Stall {
    std::string reason;
    int64_t from_ms = 0;
  };
  bool ending_ = false;
  // Why and since when the room is stalled; null while it is not (rare:
  // 8 bytes a room).
  std::unique_ptr<Stall> stalled_;
  // Each stall and unstall is a manifest change the origin must see.
  uint64_t stall_versions_ = 0;
  uint64_t seq_ = 0;
  uint64_t peer_seq_ = 0;
  // What Apply made durable: seq_ and peer_seq_ run ahead of these while
  // writes are in flight.
  uint64_t durable_seq_ = 0;
  uint64_t durable_peer_seq_ = 0;
  int64_t durable_ts_ = 0;
  int64_t ended_ms_ = 0;
  // Null until a reply is made (most rooms never have one).
  std::unique_ptr<std::vector<log::Reply>> unsaved_replies_;
  Coverage coverage_;
  std::unique_ptr<RoomModeration> mod_;
  segmenter::MonotonicStamper stamper_;
  IdempotencyWindow replies_;
  segmenter::RoomCloser closer_;
  uint64_t version_offset_ = 0;  // added to the builder's version
  uint64_t published_version_ = 0;
  // Null while nothing is pushed or withheld (idle rooms pay 8 bytes).
  std::unique_ptr<RoomLive> live_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_ROOM_H_
