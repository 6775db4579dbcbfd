#include "publisher/room.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "segmenter/cap.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "segmenter/segment.h"

namespace roomcast::publisher {
namespace {

using segmenter::BucketEnd;
using segmenter::BucketIndex;
using segmenter::BucketStart;

std::string ReplyKey(absl::string_view sender, absl::string_view id,
                     bool peer) {
  return absl::StrCat(peer ? "p" : "a", sender, "\x1f", id);
}

segmenter::ManifestIdentity ManifestId(const RoomIdentity& id) {
  return {.room = id.room, .epoch = id.epoch, .publisher = id.publisher,
          .opened_ms = id.opened_ms, .config = id.config};
}

}  // namespace

Room::Room(RoomIdentity id, int64_t idempotency_window_ms)
    : id_(std::move(id)),
      idempotency_window_ms_(idempotency_window_ms),
      bucketer_(id_.config.bucket_ms()),
      // Versions continue from the epoch (time-based, growing), so a
      // re-created room never reuses an old epoch's state URLs.
      state_(id_.room, id_.epoch, /*version_base=*/id_.epoch),
      manifest_(ManifestId(id_)) {}

int64_t Room::Stamp(int64_t now_ms, int64_t floor_ms) {
  return stamper_.Stamp(now_ms, floor_ms);
}

const v1::PostResult* Room::FindReply(absl::string_view sender,
                                      absl::string_view client_msg_id) const {
  auto it = replies_.find(ReplyKey(sender, client_msg_id, false));
  return it == replies_.end() ? nullptr : &it->second;
}

v1::PostResult Room::ReplyFor(const v1::Message& m) const {
  v1::PostResult r;
  r.set_seq(m.seq());
  r.set_ts_ms(m.ts_ms());
  r.set_bucket_ms(id_.config.bucket_ms());
  r.set_bucket(BucketIndex(m.ts_ms(), id_.config.bucket_ms()));
  return r;
}

absl::Status Room::CanSetState(const std::string& component) const {
  if (state_.total_version() == 0) return absl::OkStatus();
  std::vector<v1::ComponentVersion> v = state_.Versions();
  const bool exists = std::any_of(v.begin(), v.end(), [&](const auto& c) {
    return c.name() == component;
  });
  if (!exists && v.size() >= segmenter::kMaxComponents) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a room has at most ", segmenter::kMaxComponents, " components"));
  }
  return absl::OkStatus();
}

const v1::PostResult* Room::FindPeerReply(absl::string_view sender,
                                          absl::string_view id) const {
  auto it = replies_.find(ReplyKey(sender, id, true));
  return it == replies_.end() ? nullptr : &it->second;
}

void Room::RememberReply(absl::string_view sender, absl::string_view id,
                         bool peer, const v1::PostResult& reply,
                         int64_t ts_ms) {
  Remember(ReplyKey(sender, id, peer), reply, ts_ms);
}

absl::Status Room::Apply(const log::Record& r, v1::StateComponent* state_out) {
  switch (r.body_case()) {
    case log::Record::kAction:
      ApplyMessage(r.action().message(), r.action().client_msg_id());
      return bucketer_.Add(r.action().message());
    case log::Record::kPeer: {
      const v1::Message& m = r.peer().message();
      peer_seq_ = std::max(peer_seq_, m.seq());
      stamper_.Stamp(m.ts_ms(), m.ts_ms());
      if (!r.peer().client_msg_id().empty()) {
        Remember(ReplyKey(m.sender(), r.peer().client_msg_id(), true),
                 ReplyFor(m), m.ts_ms());
      }
      const int64_t k = BucketIndex(m.ts_ms(), id_.config.bucket_ms());
      v1::PeerBatch& b = peers_[k][m.recipient()];
      *b.add_messages() = m;
      return absl::OkStatus();
    }
    case log::Record::kState: {
      const log::StateSet& s = r.state();
      stamper_.Stamp(s.ts_ms(), s.ts_ms());
      absl::StatusOr<v1::StateComponent> c =
          state_.Set(s.component(), s.value(), s.ts_ms(), s.set_by());
      if (!c.ok()) return c.status();
      if (state_out != nullptr) *state_out = *c;
      pending_state_.push_back({s.component(), c->version(), s.ts_ms()});
      return absl::OkStatus();
    }
    case log::Record::kEnded:
      ending_ = true;
      manifest_.End();
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("not a room record");
  }
}

void Room::ApplyMessage(const v1::Message& m, const std::string& id) {
  seq_ = std::max(seq_, m.seq());
  stamper_.Stamp(m.ts_ms(), m.ts_ms());
  if (!id.empty()) Remember(ReplyKey(m.sender(), id, false), ReplyFor(m), m.ts_ms());
}

void Room::Remember(const std::string& key, v1::PostResult reply,
                    int64_t ts_ms) {
  if (reply_expiry_ == nullptr) {
    reply_expiry_ = std::make_unique<std::deque<std::pair<int64_t, std::string>>>();
  }
  auto& expiry = *reply_expiry_;
  while (!expiry.empty() && expiry.front().first + idempotency_window_ms_ < ts_ms) {
    replies_.erase(expiry.front().second);
    expiry.pop_front();
  }
  if (replies_.emplace(key, std::move(reply)).second) {
    expiry.emplace_back(ts_ms, key);
  }
}

std::vector<Upload> Room::Close(int64_t watermark_ms, int64_t now_ms) {
  std::vector<Upload> out;
  CloseBuckets(watermark_ms, &out);
  PublishState(&out);
  const uint64_t v = manifest_version();
  if (v > published_version_) {
    v1::Manifest m = manifest_.Build(now_ms, watermark_ms);
    m.set_version(v);
    out.push_back({.path = segmenter::ManifestPath(id_.room),
                   .bytes = segmenter::SerializeDeterministic(m),
                   .manifest_version = v});
    published_version_ = v;
  }
  return out;
}

void Room::Recover(int64_t uploaded_through_ms) {
  std::vector<Upload> discard;
  CloseBuckets(uploaded_through_ms, &discard);
  // State sets before the watermark were uploaded before it advanced.
  std::erase_if(pending_state_, [&](const PendingState& p) {
    return p.ts_ms < uploaded_through_ms;
  });
}

void Room::RestoreManifestProgress(const log::RoomProgress& p) {
  const uint64_t intent = p.manifest_intent();
  // If the last intended manifest may not have landed, publish one newer.
  const uint64_t target = p.manifest_done() < intent ? intent + 1 : intent;
  const uint64_t v = manifest_.version();
  version_offset_ = target > v ? target - v : 0;
  published_version_ = std::max(intent, p.manifest_done());
}

uint64_t Room::manifest_version() const {
  return manifest_.version() + version_offset_;
}

bool Room::Active() const { return Unpublished() || !rollup_.empty(); }

bool Room::Unpublished() const {
  return bucketer_.open_messages() > 0 || !peers_.empty() ||
         !pending_state_.empty() || manifest_version() > published_version_;
}

void Room::CloseBuckets(int64_t watermark_ms, std::vector<Upload>* out) {
  const int64_t d = id_.config.bucket_ms();
  std::map<int64_t, std::vector<v1::Message>> closed;
  for (segmenter::ClosedBucket& b : bucketer_.Close(watermark_ms)) {
    closed[b.index] = std::move(b.messages);
  }
  for (auto it = peers_.begin();
       it != peers_.end() && BucketEnd(it->first, d) <= watermark_ms; ++it) {
    closed.try_emplace(it->first);
  }
  for (auto& [k, messages] : closed) CloseBucket(k, std::move(messages), out);
  if (!rollup_.empty() && BucketEnd(rollup_index_, rollup_ms()) <= watermark_ms) {
    FlushRollup(out);
  }
}

void Room::CloseBucket(int64_t k, std::vector<v1::Message> messages,
                       std::vector<Upload>* out) {
  const int64_t d = id_.config.bucket_ms();
  const int64_t gate = BucketEnd(k, d) - 1;
  v1::PeerHint hint;
  bool has_hint = false;
  if (auto p = peers_.find(k); p != peers_.end()) {
    segmenter::PeerHintBuilder hb(p->second.size());
    for (auto& [user, batch] : p->second) {
      batch.set_room(id_.room);
      batch.set_epoch(id_.epoch);
      batch.set_user(user);
      batch.set_bucket_ms(static_cast<uint32_t>(d));
      batch.set_index(k);
      out->push_back({.path = segmenter::PeerPath(id_.room, user, d, k),
                      .bytes = segmenter::SerializeDeterministic(batch),
                      .gate_ms = gate});
      hb.Add(segmenter::DeriveHintKey(id_.hint_secret, user), k);
    }
    hint = hb.hint();
    has_hint = true;
    peers_.erase(p);
  }
  segmenter::SegmentParams params{
      .room = id_.room, .epoch = id_.epoch, .bucket_ms = d, .index = k,
      .limit = segmenter::BucketLimit(id_.config.action_cap_per_s(), d)};
  v1::ActionSegment seg =
      segmenter::BuildSegment(params, std::move(messages), has_hint ? &hint : nullptr);
  segmenter::EncodedObject obj = segmenter::Encode(seg);
  manifest_.AddSegment(seg, obj.digest);
  out->push_back({.path = segmenter::SegmentPath(id_.room, d, k),
                  .bytes = std::move(obj.bytes), .gate_ms = gate});
  AddToRollup(seg, out);
}

void Room::AddToRollup(const v1::ActionSegment& seg, std::vector<Upload>* out) {
  const int64_t d = id_.config.bucket_ms();
  if (rollup_ms() <= d || seg.last_seq() == 0) return;
  const int64_t ri = BucketIndex(BucketStart(seg.index(), d), rollup_ms());
  if (!rollup_.empty() && ri != rollup_index_) FlushRollup(out);
  rollup_index_ = ri;
  v1::ActionSegment& kept = rollup_.emplace_back(seg);
  kept.clear_peer_hint();
}

void Room::FlushRollup(std::vector<Upload>* out) {
  absl::StatusOr<v1::ActionSegment> r =
      segmenter::BuildRollup(rollup_ms(), rollup_index_, rollup_);
  rollup_.clear();
  // Inputs come from this room's own closed buckets in order, so this cannot
  // fail; if it ever did, the buckets themselves are still published.
  if (!r.ok()) return;
  out->push_back(
      {.path = segmenter::SegmentPath(id_.room, rollup_ms(), rollup_index_),
       .bytes = segmenter::SerializeDeterministic(*r),
       .gate_ms = BucketEnd(rollup_index_, rollup_ms()) - 1});
}

void Room::PublishState(std::vector<Upload>* out) {
  if (pending_state_.empty()) return;
  int64_t gate = kNoGate;
  for (const PendingState& p : pending_state_) {
    absl::StatusOr<v1::StateComponent> c = state_.Get(p.component, p.version);
    if (!c.ok()) continue;
    gate = std::min(gate, p.ts_ms);
    out->push_back(
        {.path = segmenter::StatePath(id_.room, p.component, p.version),
         .bytes = segmenter::SerializeDeterministic(*c), .gate_ms = p.ts_ms});
  }
  pending_state_.clear();
  const uint64_t total = state_.total_version();
  absl::StatusOr<v1::StateSnapshot> snap = state_.Snapshot(total);
  if (snap.ok()) {
    out->push_back({.path = segmenter::SnapshotPath(id_.room, total),
                    .bytes = segmenter::SerializeDeterministic(*snap),
                    .gate_ms = gate});
  }
  manifest_.SetState(state_);
  state_.Compact(total);
}

}  // namespace roomcast::publisher
