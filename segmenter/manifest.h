// The room manifest (DESIGN §4): the one mutable pointer, rebuilt when the
// room's content changes and uploaded after every object it points at.
//
//   ManifestBuilder mb({.room = "lobby", .epoch = 1, .publisher = "pub-1",
//                       .opened_ms = t0, .config = cfg});
//   mb.AddSegment(segment, obj.digest);     // version + 1
//   mb.SetState(state);                     // version + 1 if it changed
//   v1::Manifest m = mb.Build(now_ms, watermark_ms);
#ifndef ROOMCAST_SEGMENTER_MANIFEST_H_
#define ROOMCAST_SEGMENTER_MANIFEST_H_

#include <cstdint>
#include <vector>
#include <string>

#include "absl/status/status.h"

#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/checkpoint.pb.h"
#include "segmenter/state.h"

namespace roomcast::segmenter {

// How many recent non-empty segments a manifest lists.
inline constexpr size_t kRecentSegments = 16;
// A room is "busy" (follow by bucket-hold) when at least this many of its
// last kBusyWindow buckets had actions.
inline constexpr int64_t kBusyWindow = 10;
inline constexpr int64_t kBusyBuckets = 3;
// Manifest-hold clients are advised to re-ask this often (the origin holds
// each ask up to its --max-hold-ms).
inline constexpr uint32_t kManifestPollMs = 3000;

struct ManifestIdentity {
  std::string room;
  uint64_t epoch = 0;
  std::string publisher;
  int64_t opened_ms = 0;
  v1::RoomConfig config;
};

class ManifestBuilder {
 public:
  explicit ManifestBuilder(ManifestIdentity id);

  // A closed segment with actions or a peer hint (others change nothing).
  void AddSegment(const v1::ActionSegment& segment, const std::string& digest);
  // A takedown replaced segment `index`'s bytes (DESIGN §11): a recent
  // segment listed with `old_digest` is listed with `new_digest` from now
  // on (version + 1). Anything else changes nothing.
  void ReplaceDigest(int64_t index, const std::string& old_digest, const std::string& new_digest);
  // Takes the state's current versions; bumps the version if they changed.
  void SetState(const RoomState& state);
  void End();

  const ManifestIdentity& identity() const { return id_; }
  uint64_t version() const { return version_; }
  // The last seq of the latest segment with actions (0: none yet).
  uint64_t last_seq() const { return last_seq_; }
  bool ended() const { return ended_; }

  // The manifest as of now. The follow hint is judged from the recent
  // segments against the watermark.
  v1::Manifest Build(int64_t server_time_ms, int64_t watermark_ms) const;

  // Everything above but the identity as data (checkpoint.proto), and back.
  // Restore takes only what a builder could have made (version >= 1, at
  // most kRecentSegments ascending segments, valid component names);
  // kInvalidArgument otherwise, leaving this unchanged.
  ManifestCheckpoint Checkpoint() const;
  absl::Status Restore(const ManifestCheckpoint& c);

 private:
  ManifestIdentity id_;
  uint64_t version_ = 1;
  bool ended_ = false;
  uint64_t last_seq_ = 0;
  uint64_t state_version_ = 0;
  std::vector<v1::ComponentVersion> components_;
  // Oldest first, at most kRecentSegments. A vector: an empty std::deque
  // allocates ~570 bytes, paid by every idle room.
  std::vector<v1::SegmentRef> recent_;
};

}  // namespace roomcast::segmenter

#endif  // ROOMCAST_SEGMENTER_MANIFEST_H_
