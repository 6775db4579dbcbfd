#include "segmenter/manifest.h"

#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::segmenter {

ManifestBuilder::ManifestBuilder(ManifestIdentity id) : id_(std::move(id)) {}

void ManifestBuilder::AddSegment(const v1::ActionSegment& segment,
                                 const std::string& digest) {
  // A bucket with no action but a peer hint is listed too: a manifest-hold
  // follower would otherwise never look at it, and miss its peer message.
  if (segment.last_seq() == 0 && !segment.has_peer_hint()) return;
  v1::SegmentRef& ref = recent_.emplace_back();
  ref.set_index(segment.index());
  ref.set_first_seq(segment.first_seq());
  ref.set_last_seq(segment.last_seq());
  ref.set_count(static_cast<uint32_t>(segment.messages_size()));
  ref.set_digest(digest);
  if (recent_.size() > kRecentSegments) recent_.erase(recent_.begin());
  if (segment.last_seq() != 0) last_seq_ = segment.last_seq();
  ++version_;
}

void ManifestBuilder::ReplaceDigest(int64_t index, const std::string& old_digest,
                                    const std::string& new_digest) {
  for (v1::SegmentRef& ref : recent_) {
    if (ref.index() != index || ref.digest() != old_digest || old_digest == new_digest) continue;
    ref.set_digest(new_digest);
    ++version_;
  }
}

void ManifestBuilder::SetState(const RoomState& state) {
  if (state.total_version() == state_version_) return;
  state_version_ = state.total_version();
  components_ = state.Versions();
  ++version_;
}

void ManifestBuilder::End() {
  if (ended_) return;
  ended_ = true;
  ++version_;
}

v1::Manifest ManifestBuilder::Build(int64_t server_time_ms,
                                    int64_t watermark_ms) const {
  v1::Manifest m;
  m.set_room(id_.room);
  m.set_epoch(id_.epoch);
  m.set_version(version_);
  m.set_server_time_ms(server_time_ms);
  *m.mutable_config() = id_.config;
  m.set_status(ended_ ? v1::ROOM_STATUS_ENDED : v1::ROOM_STATUS_LIVE);
  m.set_watermark_ms(watermark_ms);
  m.set_publisher(id_.publisher);
  m.set_opened_ms(id_.opened_ms);
  for (const v1::SegmentRef& r : recent_) *m.add_recent_segments() = r;
  m.set_last_seq(last_seq_);
  m.set_state_version(state_version_);
  for (const v1::ComponentVersion& c : components_) *m.add_components() = c;

  const int64_t d = id_.config.bucket_ms();
  const int64_t live = d > 0 ? BucketIndex(watermark_ms, d) : 0;
  int64_t busy = 0;
  for (const v1::SegmentRef& r : recent_) busy += r.index() >= live - kBusyWindow;
  v1::FollowHint* f = m.mutable_follow();
  if (busy >= kBusyBuckets) {
    f->set_mode(v1::FOLLOW_MODE_BUCKET_HOLD);
    f->set_poll_ms(static_cast<uint32_t>(d));
  } else {
    f->set_mode(v1::FOLLOW_MODE_MANIFEST_HOLD);
    f->set_poll_ms(kManifestPollMs);
  }
  return m;
}

ManifestCheckpoint ManifestBuilder::Checkpoint() const {
  ManifestCheckpoint c;
  c.set_version(version_);
  c.set_ended(ended_);
  c.set_last_seq(last_seq_);
  c.set_state_version(state_version_);
  for (const v1::ComponentVersion& v : components_) *c.add_components() = v;
  for (const v1::SegmentRef& r : recent_) *c.add_recent() = r;
  return c;
}

absl::Status ManifestBuilder::Restore(const ManifestCheckpoint& c) {
  bool ok = c.version() >= 1 && c.recent_size() <= int{kRecentSegments};
  for (int i = 1; ok && i < c.recent_size(); ++i) {
    ok = c.recent(i).index() > c.recent(i - 1).index();
  }
  for (int i = 0; ok && i < c.components_size(); ++i) {
    ok = IsValidId(c.components(i).name()) &&
         (i == 0 || c.components(i).name() > c.components(i - 1).name());
  }
  if (!ok) return absl::InvalidArgumentError("checkpoint: bad manifest");
  version_ = c.version();
  ended_ = c.ended();
  last_seq_ = c.last_seq();
  state_version_ = c.state_version();
  components_.assign(c.components().begin(), c.components().end());
  recent_.assign(c.recent().begin(), c.recent().end());
  return absl::OkStatus();
}

}  // namespace roomcast::segmenter
