#include "publisher/internal/room.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/segment.h"
#include "segmenter/takedown.h"

namespace roomcast::publisher::internal {
namespace {

segmenter::RoomCloserOptions CloserOptions(RoomIdentity id) {
  return {.identity = {.room = std::move(id.room),
                       .epoch = id.epoch,
                       .publisher = std::move(id.publisher),
                       .opened_ms = id.opened_ms,
                       .config = std::move(id.config)},
          .hint_secret = std::move(id.hint_secret),
          // Versions continue from the epoch (time-based, growing), so a
          // re-created room never reuses an old epoch's state URLs.
          .state_version_base = id.epoch};
}

}  // namespace

Room::Room(RoomIdentity id, int64_t idempotency_window_ms)
    : replies_(idempotency_window_ms), closer_(CloserOptions(std::move(id))) {}

v1::PostResult Room::ReplyFor(const v1::Message& m) const {
  return ReplyAt(m.seq(), m.ts_ms());
}

v1::PostResult Room::ReplyAt(uint64_t seq, int64_t ts_ms) const {
  v1::PostResult r;
  r.set_seq(seq);
  r.set_ts_ms(ts_ms);
  r.set_bucket_ms(config().bucket_ms());
  r.set_bucket(segmenter::BucketIndex(ts_ms, config().bucket_ms()));
  return r;
}

absl::Status Room::CanSetState(const std::string& component,
                               const google::protobuf::Value& value) const {
  // Checked against the state before this log batch: sets of one room in
  // the same batch could together pass it, by at most the room's state-set
  // burst (Admission) times a value's limit, still far inside the origin's
  // body limit.
  return closer_.state().CanSet(component, value.ByteSizeLong(), segmenter::kMaxSnapshotBytes);
}

namespace {

// The receive time a record carries, for the check of a replayed one.
int64_t RecordTime(const log::Record& r) {
  switch (r.body_case()) {
    case log::Record::kAction:
      return r.action().message().ts_ms();
    case log::Record::kPeer:
      return r.peer().message().ts_ms();
    case log::Record::kState:
      return r.state().ts_ms();
    case log::Record::kEnded:
      return r.ended().ts_ms();
    case log::Record::kRetraction:
      return r.retraction().ts_ms();
    case log::Record::kSettings:
      return r.settings().ts_ms();
    case log::Record::kBan:
      return r.ban().ts_ms();
    case log::Record::kTakedown:
      return r.takedown().at_ms();
    case log::Record::kTakedownDone:
      return r.takedown_done().ts_ms();
    default:
      return 0;
  }
}

}  // namespace

absl::Status Room::Apply(const log::Record& r, v1::StateComponent* state_out) {
  // The publisher stamped it; one read back from disk might say anything,
  // and a time past the end of time would overflow its bucket's end.
  const int64_t ts = RecordTime(r);
  if (ts < 0 || ts > segmenter::kMaxTimeMs ||
      (r.has_peer() && !segmenter::IsValidId(r.peer().message().recipient()))) {
    return absl::InvalidArgumentError("a record out of range");
  }
  switch (r.body_case()) {
    case log::Record::kAction:
      return ApplyAction(r.action());
    case log::Record::kPeer:
      ApplyPeer(r.peer());
      return absl::OkStatus();
    case log::Record::kState:
      return ApplyState(r.state(), state_out);
    case log::Record::kEnded:
      ending_ = true;
      ended_ms_ = std::max<int64_t>(r.ended().ts_ms(), 1);
      closer_.End();
      return absl::OkStatus();
    case log::Record::kRetraction:
      return ApplyRetraction(r.retraction());
    case log::Record::kSettings:
      return ApplySettings(r.settings());
    case log::Record::kBan:
      return ApplyBan(r.ban());
    case log::Record::kTakedown:
      return ApplyTakedown(r.takedown());
    case log::Record::kTakedownPlan:
      moderation().takedowns().Plan(r.takedown_plan());
      return absl::OkStatus();
    case log::Record::kTakedownDone:
      return ApplyTakedownDone(r.takedown_done());
    default:
      return absl::InvalidArgumentError("not a room record");
  }
}

absl::Status Room::ApplyAction(const log::Action& a) {
  const v1::Message& m = a.message();
  // A record that does not fit changes nothing (replay quarantines it).
  ROOMCAST_RETURN_IF_ERROR(closer_.AddAction(m));
  seq_ = std::max(seq_, m.seq());
  durable_seq_ = std::max(durable_seq_, m.seq());
  Sequenced(m, ReplyKind::kAction, a.client_msg_id());
  if (m.body_case() != v1::Message::kRetract && m.body_case() != v1::Message::kBan) {
    moderation().Remember(m.seq(), m.ts_ms(), m.sender());
  }
  return absl::OkStatus();
}

RoomModeration& Room::moderation() {
  if (mod_ == nullptr) mod_ = std::make_unique<RoomModeration>();
  return *mod_;
}

absl::Status Room::CanSetModerationState(const std::string& name) const {
  // A moderation value stays far below the per-value limit; what could
  // refuse it is a room whose components are all taken.
  return closer_.state().CanSet(name, 64 * 1024, segmenter::kMaxSnapshotBytes);
}

absl::Status Room::SetModerationState(const std::string& name, google::protobuf::Value value,
                                      int64_t ts_ms, const std::string& by) {
  ROOMCAST_RETURN_IF_ERROR(closer_.SetState(name, std::move(value), ts_ms, by).status());
  stamper_.Stamp(ts_ms, ts_ms);
  durable_ts_ = std::max(durable_ts_, ts_ms);
  return absl::OkStatus();
}

absl::Status Room::ApplyRetraction(const log::Retraction& r) {
  std::vector<uint64_t> targets(r.unpublished().begin(), r.unpublished().end());
  if (r.has_record()) {
    if (!r.record().has_retract()) return absl::InvalidArgumentError("a retraction without its record");
    log::Action a;
    *a.mutable_message() = r.record();
    ROOMCAST_RETURN_IF_ERROR(ApplyAction(a));
    targets.insert(targets.end(), r.record().retract().seqs().begin(),
                   r.record().retract().seqs().end());
  }
  // Sequencing held each unpublished target's bucket open until this was
  // durable, so it is open here too (and on replay, before the skip).
  for (uint64_t seq : r.unpublished()) closer_.RetractOpen(seq);
  ReleaseLive(r.unpublished());
  const int64_t retention_ms = int64_t{config().retention_s()} * 1000;
  moderation().AddRedactions(targets, r.ts_ms(), r.ts_ms() - retention_ms);
  return SetModerationState(kRedactionsComponent, moderation().RedactionsValue(), r.ts_ms(),
                            r.by());
}

absl::Status Room::ApplySettings(const log::SettingsSet& s) {
  if (s.settings().slow_mode_s() > RoomModeration::kMaxSlowModeS ||
      s.settings().review_delay_ms() > RoomModeration::kMaxReviewDelayMs) {
    return absl::InvalidArgumentError("settings out of range");
  }
  moderation().SetSettings(s.settings());
  return SetModerationState(kSettingsComponent, moderation().SettingsValue(), s.ts_ms(), s.by());
}

absl::Status Room::ApplyBan(const log::BanSet& b) {
  if (!segmenter::IsValidId(b.user()) || b.until_ms() < 0) {
    return absl::InvalidArgumentError("a bad ban");
  }
  if (b.has_record()) {
    if (!b.record().has_ban()) return absl::InvalidArgumentError("a ban without its record");
    log::Action a;
    *a.mutable_message() = b.record();
    ROOMCAST_RETURN_IF_ERROR(ApplyAction(a));
  }
  moderation().SetBan(b.user(), b.until_ms(), b.silent());
  stamper_.Stamp(b.ts_ms(), b.ts_ms());
  durable_ts_ = std::max(durable_ts_, b.ts_ms());
  return absl::OkStatus();
}

absl::Status Room::ApplyTakedown(const log::Takedown& t) {
  if (t.id() == 0 || t.id() <= moderation().takedowns().last_id() ||
      static_cast<size_t>(t.seqs_size() + t.unpublished_size()) > segmenter::kMaxTakedownSeqs) {
    return absl::InvalidArgumentError("a bad takedown");
  }
  // Sequencing held each unpublished target's bucket open until this was
  // durable, as for a retraction.
  for (uint64_t seq : t.unpublished()) closer_.RetractOpen(seq);
  ReleaseLive(t.unpublished());
  closer_.TakeDown({t.seqs().begin(), t.seqs().end()});
  moderation().takedowns().Start(t);
  stamper_.Stamp(t.at_ms(), t.at_ms());
  durable_ts_ = std::max(durable_ts_, t.at_ms());
  RedactTakenDown(t);
  return absl::OkStatus();
}

// A viewer that showed a taken-down message (live, or from a cached
// segment) hides it once `redactions` lists it, as for a retraction; from
// the log alone, so a replay republishes the same.
void Room::RedactTakenDown(const log::Takedown& t) {
  std::vector<uint64_t> seqs(t.seqs().begin(), t.seqs().end());
  seqs.insert(seqs.end(), t.unpublished().begin(), t.unpublished().end());
  const int64_t retention_ms = int64_t{config().retention_s()} * 1000;
  moderation().AddRedactions(seqs, t.at_ms(), t.at_ms() - retention_ms);
  absl::Status s =
      SetModerationState(kRedactionsComponent, moderation().RedactionsValue(), t.at_ms(), t.by());
  // Kept either way (the next change publishes it): a room whose state
  // cannot take it (ended) must not stall on it, nor its replay.
  if (!s.ok()) {
    ROOMCAST_LOG(kError, "publisher", "redactions_not_published")
        .Kv("room", name())
        .Kv("status", s);
  }
}

absl::Status Room::ApplyTakedownDone(const log::TakedownDone& d) {
  if (!moderation().takedowns().Done(d)) return absl::OkStatus();
  // The manifest names the segment's new digest from now on.
  closer_.Replaced(d.entry().path(), d.entry().old_digest(), d.entry().new_digest());
  absl::Status s = SetModerationState(kTakedownsComponent, moderation().takedowns().Value(),
                                      d.ts_ms(), closer_.identity().publisher);
  // The record is kept either way (the next one publishes it): a room whose
  // state cannot take it must not stall on it, nor its replay.
  if (!s.ok()) {
    ROOMCAST_LOG(kError, "publisher", "takedowns_not_published").Kv("room", name()).Kv("status", s);
  }
  return absl::OkStatus();
}

void Room::DescribeStubs(Upload& u, int64_t end_ms) const {
  const log::Takedown* t = nullptr;
  for (uint64_t seq : u.stubbed) {
    const log::Takedown* by = mod_ ? mod_->takedowns().RequestFor(seq) : nullptr;
    if (by != nullptr && (t == nullptr || by->id() > t->id())) t = by;
  }
  if (t != nullptr && t->at_ms() > 0) {
    u.takedown_at_ms = t->at_ms();
    u.takedown_reason = t->reason();
    return;
  }
  // Forgotten (past the newest kMaxRequests): the origin refuses At 0, so
  // the object's end stands in, the same on every render (a retry after a
  // crash sends the same headers).
  u.takedown_at_ms = std::max<int64_t>(end_ms, 1);
  ROOMCAST_LOG(kWarning, "publisher", "takedown_request_forgotten")
      .Kv("room", name())
      .Kv("path", u.path)
      .Kv("at_ms", u.takedown_at_ms);
}

void Room::ApplyPeer(const log::Peer& p) {
  const v1::Message& m = p.message();
  peer_seq_ = std::max(peer_seq_, m.seq());
  durable_peer_seq_ = std::max(durable_peer_seq_, m.seq());
  Sequenced(m, ReplyKind::kPeer, p.client_msg_id());
  closer_.AddPeer(m);
}

void Room::Sequenced(const v1::Message& m, ReplyKind kind,
                     const std::string& client_msg_id) {
  stamper_.Stamp(m.ts_ms(), m.ts_ms());
  durable_ts_ = std::max(durable_ts_, m.ts_ms());
  if (client_msg_id.empty()) return;
  replies_.Remember(kind, m.sender(), client_msg_id, ReplyFor(m), m.ts_ms());
  if (unsaved_replies_ == nullptr) {
    unsaved_replies_ = std::make_unique<std::vector<log::Reply>>();
  }
  log::Reply& r = unsaved_replies_->emplace_back();
  r.set_peer(kind == ReplyKind::kPeer);
  r.set_sender(m.sender());
  r.set_client_msg_id(client_msg_id);
  r.set_seq(m.seq());
  r.set_ts_ms(m.ts_ms());
}

absl::Status Room::ApplyState(const log::StateSet& s, v1::StateComponent* out) {
  absl::StatusOr<v1::StateComponent> c =
      closer_.SetState(s.component(), s.value(), s.ts_ms(), s.set_by(), s.expires_ms());
  if (!c.ok()) return c.status();
  stamper_.Stamp(s.ts_ms(), s.ts_ms());
  durable_ts_ = std::max(durable_ts_, s.ts_ms());
  if (out != nullptr) *out = *std::move(c);
  return absl::OkStatus();
}

void Room::MarkStalled(std::string reason, int64_t from_ms) {
  if (stalled_) return;
  stalled_ = std::make_unique<Stall>(
      Stall{.reason = std::move(reason), .from_ms = from_ms > 0 ? from_ms : closer_.watermark_ms()});
  ++stall_versions_;
}

void Room::Unstall() {
  if (!stalled_) return;
  stalled_.reset();
  ++stall_versions_;
}

std::vector<Upload> Room::Close(int64_t watermark_ms, int64_t now_ms) {
  std::vector<segmenter::ClosedObject> closed;
  // The review delay (DESIGN §11) holds each bucket back H ms past the
  // watermark: the origin counts it closed only from watermark - H (the
  // manifest says H), so the publisher watermark must not pass its end + H
  // before the origin has it.
  const int64_t delay = mod_ ? mod_->settings().review_delay_ms() : 0;
  // A stalled room closes nothing: its buckets wait, unserved, until it
  // can be published again.
  if (!stalled()) closer_.Close(watermark_ms - delay, &closed);
  if (live_ != nullptr) {
    live_->Forget(closer_.watermark_ms(), config().bucket_ms());
    if (live_->empty()) live_.reset();
  }
  std::vector<Upload> out;
  out.reserve(closed.size() + 1);
  for (segmenter::ClosedObject& o : closed) {
    const bool bucketed = o.cls == segmenter::ObjectClass::kActions ||
                          o.cls == segmenter::ObjectClass::kPeer;
    Upload& u = out.emplace_back(Upload{.path = std::move(o.path),
                                        .bytes = std::move(o.bytes),
                                        .gate_ms = bucketed ? o.gate_ms + delay : o.gate_ms});
    if (!o.stubbed.empty()) {
      u.stubbed = std::move(o.stubbed);
      u.unstubbed_digest = std::move(o.unstubbed_digest);
      u.new_digest = base::Sha256Hex(u.bytes);
      DescribeStubs(u, o.gate_ms + 1);
    }
  }
  const uint64_t v = manifest_version();
  if (v > published_version_) {
    // With a delay the manifest's watermark is the room's own: what it has
    // closed, which the origin then counts as closed whatever the delay.
    v1::Manifest m = closer_.manifest().Build(
        now_ms, delay > 0 ? std::max(closer_.watermark_ms(), int64_t{0}) : watermark_ms);
    m.set_version(v);
    m.set_review_delay_ms(static_cast<uint32_t>(delay));
    if (stalled()) {
      m.set_status(v1::ROOM_STATUS_STALLED);
      m.set_stalled_from_ms(stalled_->from_ms);
      m.set_stalled_reason(stalled_->reason);
    }
    out.push_back({.path = segmenter::ManifestPath(closer_.identity().room,
                                                   segmenter::Format::kProto, closer_.scope()),
                   .bytes = segmenter::SerializeDeterministic(m),
                   // Until the origin has a manifest saying the delay, it
                   // would count the held buckets closed by the watermark.
                   .gate_ms = delay > 0 ? m.watermark_ms() : kNoGate,
                   .manifest_version = v});
    published_version_ = v;
  }
  return out;
}

std::vector<v1::SegmentRef> Room::recent_segments() const {
  const segmenter::ManifestCheckpoint c = closer_.manifest().Checkpoint();
  return {c.recent().begin(), c.recent().end()};
}

void Room::RestoreManifestProgress(const log::RoomProgress& p) {
  const uint64_t intent = p.manifest_intent();
  // If the last intended manifest may not have landed, publish one newer.
  const uint64_t target = p.manifest_done() < intent ? intent + 1 : intent;
  const uint64_t v = closer_.manifest().version();
  version_offset_ = target > v ? target - v : 0;
  published_version_ = std::max(intent, p.manifest_done());
}

uint64_t Room::manifest_version() const {
  return closer_.manifest().version() + version_offset_ + stall_versions_;
}

bool Room::Unpublished() const {
  return closer_.HasUnclosed() || manifest_version() > published_version_;
}

void Room::RollBack(const log::Record& r) {
  if (r.has_retraction()) ReleaseLive(r.retraction().unpublished());
  if (r.has_takedown()) ReleaseLive(r.takedown().unpublished());
  seq_ = durable_seq_;
  peer_seq_ = durable_peer_seq_;
  ending_ = ended();
  if (r.has_action() && !r.action().client_msg_id().empty()) {
    replies_.Forget(ReplyKind::kAction, r.action().message().sender(),
                    r.action().client_msg_id());
  }
  if (r.has_peer() && !r.peer().client_msg_id().empty()) {
    replies_.Forget(ReplyKind::kPeer, r.peer().message().sender(),
                    r.peer().client_msg_id());
  }
}

log::RoomCheckpoint Room::Checkpoint(uint64_t lsn) const {
  log::RoomCheckpoint c;
  const segmenter::ManifestIdentity& id = closer_.identity();
  c.set_room(id.room);
  c.set_lsn(lsn);
  *c.mutable_opened()->mutable_config() = id.config;
  c.mutable_opened()->set_epoch(id.epoch);
  c.mutable_opened()->set_opened_ms(id.opened_ms);
  c.set_seq(durable_seq_);
  c.set_peer_seq(durable_peer_seq_);
  c.set_last_ts_ms(durable_ts_);
  c.set_ended_ms(ended_ms_);
  *c.mutable_closer() = closer_.Checkpoint();
  if (mod_) *c.mutable_moderation() = mod_->Checkpoint();
  return c;
}

absl::Status Room::Restore(const log::RoomCheckpoint& c) {
  if (c.last_ts_ms() < 0 || c.last_ts_ms() > segmenter::kMaxTimeMs ||
      c.ended_ms() < 0 || c.ended_ms() > segmenter::kMaxTimeMs) {
    return absl::InvalidArgumentError("checkpoint: times out of range");
  }
  seq_ = durable_seq_ = c.seq();
  peer_seq_ = durable_peer_seq_ = c.peer_seq();
  durable_ts_ = c.last_ts_ms();
  stamper_.Stamp(durable_ts_, durable_ts_);
  ended_ms_ = c.ended_ms();
  ending_ = ended_ms_ != 0;
  // Nothing open or published may be past the seq the checkpoint says.
  if (c.closer().bucketer().last_seq() > c.seq() ||
      c.closer().manifest().last_seq() > c.seq()) {
    return absl::InvalidArgumentError("checkpoint: seqs past the room's seq");
  }
  if (c.has_moderation()) {
    ROOMCAST_RETURN_IF_ERROR(moderation().Restore(c.moderation()));
  }
  ROOMCAST_RETURN_IF_ERROR(closer_.Restore(c.closer()));
  if (ending_ != ended()) {
    return absl::InvalidArgumentError("checkpoint: ended twice over");
  }
  return absl::OkStatus();
}

const std::vector<log::Reply>& Room::unsaved_replies() const {
  static const std::vector<log::Reply>* const kNone =
      new std::vector<log::Reply>();
  return unsaved_replies_ == nullptr ? *kNone : *unsaved_replies_;
}

void Room::SavedReplies(size_t n) {
  if (unsaved_replies_ == nullptr) return;
  std::vector<log::Reply>& v = *unsaved_replies_;
  v.erase(v.begin(), v.begin() + static_cast<ptrdiff_t>(std::min(n, v.size())));
  if (v.empty()) unsaved_replies_.reset();
}

void Room::RestoreReplies(const std::vector<log::Reply>& replies) {
  for (const log::Reply& r : replies) {
    replies_.Remember(r.peer() ? ReplyKind::kPeer : ReplyKind::kAction,
                      r.sender(), r.client_msg_id(),
                      ReplyAt(r.seq(), r.ts_ms()), r.ts_ms());
  }
}

}  // namespace roomcast::publisher::internal
