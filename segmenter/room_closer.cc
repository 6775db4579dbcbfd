#include "segmenter/room_closer.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "base/status_macros.h"
#include "segmenter/cap.h"
#include "segmenter/codec.h"
#include "segmenter/messages.h"
#include "segmenter/peer_hint.h"
#include "segmenter/takedown.h"
#include "segmenter/segment.h"

namespace roomcast::segmenter {
namespace {

// Whether a bucket weighing `weight` is over the rollup's budget after
// `kept` buckets weighing `kept_weight`: BuildRollup's test, which always
// takes the window's first non-empty bucket (whatever it weighs: all of its
// actions may have been retracted).
bool OverRollupBudget(size_t kept, int64_t kept_weight, int64_t weight) {
  return kept > 0 && kept_weight + weight > kMaxObjectBytes;
}

}  // namespace

RoomCloser::RoomCloser(RoomCloserOptions options)
    : hint_secret_(std::move(options.hint_secret)),
      bucketer_(options.identity.config.bucket_ms()),
      state_(options.identity.room, options.identity.epoch,
             options.state_version_base),
      manifest_(std::move(options.identity)) {}

absl::Status RoomCloser::AddAction(v1::Message m) {
  return bucketer_.Add(std::move(m));
}

void RoomCloser::AddPeer(v1::Message m) {
  const int64_t k = BucketIndex(m.ts_ms(), bucket_ms());
  auto [it, fresh] = peers_[k].try_emplace(m.recipient());
  if (fresh) {
    it->second = EmptyPeerBatch(identity().room, identity().epoch,
                                m.recipient(), bucket_ms(), k);
  }
  const auto n = static_cast<uint32_t>(it->second.messages_size() + 1);
  const int64_t ts = m.ts_ms();
  *it->second.add_messages() = std::move(m);
  // Its notice among the bucket's records (Add takes every notice).
  (void)bucketer_.Add(
      PeerNotice(PeerNoticeTag(DeriveHintKey(hint_secret_, it->first), k, n), ts));
}

absl::StatusOr<v1::StateComponent> RoomCloser::SetState(
    const std::string& name, google::protobuf::Value value, int64_t ts_ms,
    std::string set_by, int64_t expires_ms) {
  ExpireState(ts_ms);
  absl::StatusOr<v1::StateComponent> c =
      state_.Set(name, std::move(value), ts_ms, std::move(set_by), expires_ms);
  if (c.ok()) {
    pending_state_.push_back({name, c->version(), ts_ms});
    // Its notice among the bucket's records (as AddPeer's).
    (void)bucketer_.Add(StateNotice(*c));
  }
  return c;
}

void RoomCloser::ExpireState(int64_t through_ms) {
  for (const v1::StateComponent& gone : state_.Expire(through_ms)) {
    pending_state_.push_back({gone.name(), gone.version(), gone.ts_ms()});
  }
}

void RoomCloser::Close(int64_t watermark_ms, std::vector<ClosedObject>* out) {
  ExpireState(watermark_ms);
  CloseBuckets(watermark_ms, out);
  CloseState(out);
}

void RoomCloser::Skip(int64_t through_ms) {
  std::vector<ClosedObject> discard;
  ExpireState(through_ms);
  CloseBuckets(through_ms, &discard);
  // State sets before the watermark were uploaded before it advanced.
  const size_t pending = pending_state_.size();
  std::erase_if(pending_state_,
                [&](const PendingState& p) { return p.ts_ms < through_ms; });
  // As CloseState does once they are out: the manifest lists what the
  // origin has (a later state set would otherwise publish a manifest
  // without the components skipped here).
  if (pending > 0 && pending_state_.empty()) {
    manifest_.SetState(state_);
    state_.Compact(state_.total_version());
  }
}

bool RoomCloser::HasUnclosed() const {
  return bucketer_.open_messages() > 0 || !peers_.empty() ||
         !pending_state_.empty();
}

void RoomCloser::CloseBuckets(int64_t watermark_ms,
                              std::vector<ClosedObject>* out) {
  std::map<int64_t, std::vector<v1::Message>> closed;
  for (ClosedBucket& b : bucketer_.Close(watermark_ms)) {
    closed[b.index] = std::move(b.messages);
  }
  for (auto it = peers_.begin();
       it != peers_.end() && BucketEnd(it->first, bucket_ms()) <= watermark_ms;
       ++it) {
    closed.try_emplace(it->first);
  }
  for (auto& [k, messages] : closed) CloseBucket(k, std::move(messages), out);
  if (!rollup_.empty() &&
      BucketEnd(rollup_index_, rollup_ms()) <= watermark_ms) {
    FlushRollup(out);
  }
}

SegmentParams RoomCloser::SegmentParamsFor(int64_t k) const {
  const int64_t d = bucket_ms();
  return {.room = identity().room,
          .epoch = identity().epoch,
          .bucket_ms = d,
          .index = k,
          .limit = BucketLimit(identity().config.action_cap_per_s(), d)};
}

void RoomCloser::CloseBucket(int64_t k, std::vector<v1::Message> messages,
                             std::vector<ClosedObject>* out) {
  const int64_t d = bucket_ms();
  std::optional<v1::PeerHint> hint = ClosePeers(k, out);
  v1::ActionSegment seg = BuildSegment(SegmentParamsFor(k), std::move(messages),
                                       hint.has_value() ? &*hint : nullptr);
  std::string digest;
  out->push_back(Render(seg, SegmentPath(identity().room, d, k, Format::kProto, scope()),
                        BucketEnd(k, d) - 1, &digest));
  manifest_.AddSegment(seg, digest);
  // The rollup keeps the bucket as it was: a takedown after this still
  // stubs the rollup when it is built.
  AddToRollup(seg, out);
}

std::optional<v1::PeerHint> RoomCloser::ClosePeers(
    int64_t k, std::vector<ClosedObject>* out) {
  auto p = peers_.find(k);
  if (p == peers_.end()) return std::nullopt;
  const int64_t d = bucket_ms();
  PeerHintBuilder hint(p->second.size());
  for (const auto& [user, batch] : p->second) {
    out->push_back({.cls = ObjectClass::kPeer,
                    .path = PeerPath(identity().room, user, d, k, Format::kProto, scope()),
                    .bytes = SerializeDeterministic(batch),
                    .gate_ms = BucketEnd(k, d) - 1});
    hint.Add(DeriveHintKey(hint_secret_, user), k);
  }
  peers_.erase(p);
  return hint.hint();
}

void RoomCloser::AddToRollup(const v1::ActionSegment& seg,
                             std::vector<ClosedObject>* out) {
  const int64_t d = bucket_ms();
  if (rollup_ms() <= d || seg.last_seq() == 0) return;
  const int64_t ri = BucketIndex(BucketStart(seg.index(), d), rollup_ms());
  if (!rollup_.empty() && ri != rollup_index_) FlushRollup(out);
  rollup_index_ = ri;
  // BuildRollup stops at the first bucket over the budget: that one is kept
  // (the rollup ends before it), none after it (readers fetch them alone).
  if (rollup_cut_) return;
  const int64_t weight = RollupWeight(seg);
  rollup_cut_ = OverRollupBudget(rollup_.size(), rollup_weight_, weight);
  rollup_weight_ += weight;
  v1::ActionSegment kept = seg;
  kept.clear_peer_hint();
  RollupPart& part = rollup_.emplace_back();
  part.set_index(seg.index());
  part.set_first_seq(seg.first_seq());
  part.set_last_seq(seg.last_seq());
  part.set_weight(weight);
  part.set_segment(SerializeDeterministic(kept));
}

void RoomCloser::FlushRollup(std::vector<ClosedObject>* out) {
  std::vector<v1::ActionSegment> buckets(rollup_.size());
  bool parsed = true;
  for (size_t i = 0; i < rollup_.size(); ++i) {
    parsed = parsed && buckets[i].ParseFromString(rollup_[i].segment());
  }
  rollup_.clear();
  rollup_weight_ = 0;
  rollup_cut_ = false;
  // Inputs come from this room's own closed buckets in order, so this cannot
  // fail; if it ever did, the buckets themselves are still published.
  if (!parsed) return;
  absl::StatusOr<v1::ActionSegment> r =
      BuildRollup(rollup_ms(), rollup_index_, buckets);
  if (!r.ok()) return;
  out->push_back(Render(
      *std::move(r),
      SegmentPath(identity().room, rollup_ms(), rollup_index_, Format::kProto, scope()),
      BucketEnd(rollup_index_, rollup_ms()) - 1));
}

ClosedObject RoomCloser::Render(v1::ActionSegment seg, std::string path, int64_t gate_ms,
                                std::string* digest) const {
  ClosedObject o{.cls = ObjectClass::kActions, .path = std::move(path), .gate_ms = gate_ms};
  if (!taken_down_.empty() && seg.last_seq() != 0) {
    const std::vector<uint64_t> seqs(taken_down_.lower_bound(seg.first_seq()),
                                     taken_down_.upper_bound(seg.last_seq()));
    if (!seqs.empty()) {
      std::string unstubbed = Encode(seg).digest;
      o.stubbed = StubMessages(&seg, seqs);
      if (!o.stubbed.empty()) o.unstubbed_digest = std::move(unstubbed);
    }
  }
  EncodedObject obj = Encode(seg);
  o.bytes = std::move(obj.bytes);
  if (digest != nullptr) *digest = std::move(obj.digest);
  return o;
}

void RoomCloser::Replaced(const std::string& path, const std::string& old_digest,
                          const std::string& new_digest) {
  absl::StatusOr<ObjectRef> ref = ParsePath(path);
  if (!ref.ok() || ref->cls != ObjectClass::kActions || ref->room != identity().room ||
      ref->bucket_ms != bucket_ms()) {
    return;  // a rollup, or not this room's: the manifest lists neither
  }
  manifest_.ReplaceDigest(ref->number, old_digest, new_digest);
}

void RoomCloser::TakeDown(const std::vector<uint64_t>& seqs) {
  taken_down_.insert(seqs.begin(), seqs.end());
  while (taken_down_.size() > kMaxTakenDown) taken_down_.erase(taken_down_.begin());
}

void RoomCloser::CloseState(std::vector<ClosedObject>* out) {
  if (pending_state_.empty()) return;
  int64_t gate = std::numeric_limits<int64_t>::max();
  for (const PendingState& p : pending_state_) {
    // A removal has no object of its own, only the snapshot after it.
    gate = std::min(gate, p.ts_ms);
    absl::StatusOr<v1::StateComponent> c = state_.Get(p.component, p.version);
    if (!c.ok()) continue;
    out->push_back({.cls = ObjectClass::kState,
                    .path = StatePath(identity().room, p.component, p.version, Format::kProto,
                                      scope()),
                    .bytes = SerializeDeterministic(*c),
                    .gate_ms = p.ts_ms});
  }
  pending_state_.clear();
  const uint64_t total = state_.total_version();
  absl::StatusOr<v1::StateSnapshot> snap = state_.Snapshot(total);
  if (snap.ok()) {
    out->push_back({.cls = ObjectClass::kSnapshot,
                    .path = SnapshotPath(identity().room, total, Format::kProto, scope()),
                    .bytes = SerializeDeterministic(*snap),
                    .gate_ms = gate});
  }
  manifest_.SetState(state_);
  state_.Compact(total);
}

RoomCloserCheckpoint RoomCloser::Checkpoint() const {
  RoomCloserCheckpoint c;
  *c.mutable_bucketer() = bucketer_.Checkpoint();
  for (const auto& [k, batches] : peers_) {
    for (const auto& [user, batch] : batches) *c.add_peers() = batch;
  }
  *c.mutable_state() = state_.Checkpoint();
  for (const PendingState& p : pending_state_) {
    segmenter::PendingState* out = c.add_pending_state();
    out->set_component(p.component);
    out->set_version(p.version);
    out->set_ts_ms(p.ts_ms);
  }
  *c.mutable_manifest() = manifest_.Checkpoint();
  c.set_rollup_index(rollup_index_);
  for (const RollupPart& part : rollup_) *c.add_rollup_parts() = part;
  for (uint64_t seq : taken_down_) c.add_taken_down(seq);
  return c;
}

absl::Status RoomCloser::Restore(const RoomCloserCheckpoint& c) {
  // Each part into a copy first: on any error this closer stays as it was.
  Bucketer bucketer(bucket_ms());
  ROOMCAST_RETURN_IF_ERROR(bucketer.Restore(c.bucketer()));
  RoomState state = state_;
  ROOMCAST_RETURN_IF_ERROR(state.Restore(c.state()));
  ManifestBuilder manifest = manifest_;
  ROOMCAST_RETURN_IF_ERROR(manifest.Restore(c.manifest()));
  PeerBuckets peers;
  ROOMCAST_RETURN_IF_ERROR(RestorePeers(c, bucketer.watermark_ms(), &peers));
  ROOMCAST_RETURN_IF_ERROR(CheckPending(c, state));
  // Open actions come after every published one.
  const auto& open = c.bucketer().open();
  for (const OpenBucket& o : open) {
    auto action = std::find_if(o.messages().begin(), o.messages().end(),
                               [](const v1::Message& m) { return m.seq() != 0; });
    if (action == o.messages().end()) continue;  // notices only
    if (action->seq() <= manifest.last_seq()) {
      return absl::InvalidArgumentError("checkpoint: open seq already published");
    }
    break;
  }
  absl::StatusOr<std::vector<RollupPart>> rollup =
      RestoreRollup(c, bucketer.watermark_ms());
  if (!rollup.ok()) return rollup.status();
  bucketer_ = std::move(bucketer);
  state_ = std::move(state);
  manifest_ = std::move(manifest);
  peers_ = std::move(peers);
  pending_state_.clear();
  for (const segmenter::PendingState& p : c.pending_state()) {
    pending_state_.push_back({p.component(), p.version(), p.ts_ms()});
  }
  if (static_cast<size_t>(c.taken_down_size()) > kMaxTakenDown) {
    return absl::InvalidArgumentError("checkpoint: too many taken-down seqs");
  }
  taken_down_ = std::set<uint64_t>(c.taken_down().begin(), c.taken_down().end());
  rollup_index_ = c.rollup_index();
  rollup_ = *std::move(rollup);
  rollup_weight_ = 0;
  rollup_cut_ = false;
  for (size_t i = 0; i < rollup_.size(); ++i) {
    rollup_cut_ = OverRollupBudget(i, rollup_weight_, rollup_[i].weight());
    rollup_weight_ += rollup_[i].weight();
  }
  return absl::OkStatus();
}

absl::Status RoomCloser::RestorePeers(const RoomCloserCheckpoint& c,
                                      int64_t watermark,
                                      PeerBuckets* out) const {
  for (const v1::PeerBatch& b : c.peers()) {
    bool ok = b.room() == identity().room && b.epoch() == identity().epoch &&
              b.bucket_ms() == bucket_ms() && IsValidId(b.user()) &&
              !b.messages().empty() && b.index() >= 0 &&
              b.index() <= kMaxTimeMs / bucket_ms() &&
              BucketEnd(b.index(), bucket_ms()) > watermark;
    for (const v1::Message& m : b.messages()) {
      ok = ok && m.recipient() == b.user() &&
           BucketIndex(m.ts_ms(), bucket_ms()) == b.index();
    }
    if (!ok || !(*out)[b.index()].try_emplace(b.user(), b).second) {
      return absl::InvalidArgumentError("checkpoint: bad peer batch");
    }
  }
  return absl::OkStatus();
}

absl::Status RoomCloser::CheckPending(const RoomCloserCheckpoint& c,
                                      const RoomState& state) const {
  for (const segmenter::PendingState& p : c.pending_state()) {
    if (!state.Holds(p.component(), p.version())) {
      return absl::InvalidArgumentError(
          "checkpoint: a pending state set the state does not hold");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RollupPart>> RoomCloser::RestoreRollup(
    const RoomCloserCheckpoint& c, int64_t watermark) const {
  std::vector<RollupPart> parts(c.rollup_parts().begin(), c.rollup_parts().end());
  // An older checkpoint kept the whole window as segments: as parts, up to
  // the first over the budget (the rollup is the same without the rest).
  int64_t old_weight = 0;
  for (const v1::ActionSegment& seg : c.rollup()) {
    if (seg.has_peer_hint()) return absl::InvalidArgumentError("checkpoint: bad rollup window");
    RollupPart& part = parts.emplace_back();
    part.set_index(seg.index());
    part.set_first_seq(seg.first_seq());
    part.set_last_seq(seg.last_seq());
    part.set_weight(RollupWeight(seg));
    part.set_segment(SerializeDeterministic(seg));
    const bool over = OverRollupBudget(parts.size() - 1, old_weight, part.weight());
    old_weight += part.weight();
    if (over) break;
  }
  const int64_t d = bucket_ms();
  int64_t last = std::numeric_limits<int64_t>::min();
  int64_t weight = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const RollupPart& p = parts[i];
    // Only the last part may be over the budget; the segments themselves are
    // parsed and checked again when the rollup is built.
    const bool over = OverRollupBudget(i, weight, p.weight());
    const bool ok = rollup_ms() > d && p.index() > last && p.index() >= 0 &&
                    p.index() <= kMaxTimeMs / d && BucketEnd(p.index(), d) <= watermark &&
                    BucketIndex(BucketStart(p.index(), d), rollup_ms()) == c.rollup_index() &&
                    p.first_seq() != 0 && p.last_seq() >= p.first_seq() &&
                    p.weight() >= 0 && !p.segment().empty() &&
                    (!over || i + 1 == parts.size());
    if (!ok) return absl::InvalidArgumentError("checkpoint: bad rollup window");
    last = p.index();
    weight += p.weight();
  }
  return parts;
}

}  // namespace roomcast::segmenter
