#include "publisher/internal/room.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/segment.h"

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
  v1::PostResult r;
  r.set_seq(m.seq());
  r.set_ts_ms(m.ts_ms());
  r.set_bucket_ms(config().bucket_ms());
  r.set_bucket(segmenter::BucketIndex(m.ts_ms(), config().bucket_ms()));
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

absl::Status Room::Apply(const log::Record& r, v1::StateComponent* state_out) {
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
      closer_.End();
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("not a room record");
  }
}

absl::Status Room::ApplyAction(const log::Action& a) {
  const v1::Message& m = a.message();
  seq_ = std::max(seq_, m.seq());
  Sequenced(m, ReplyKind::kAction, a.client_msg_id());
  return closer_.AddAction(m);
}

void Room::ApplyPeer(const log::Peer& p) {
  const v1::Message& m = p.message();
  peer_seq_ = std::max(peer_seq_, m.seq());
  Sequenced(m, ReplyKind::kPeer, p.client_msg_id());
  closer_.AddPeer(m);
}

void Room::Sequenced(const v1::Message& m, ReplyKind kind,
                     const std::string& client_msg_id) {
  stamper_.Stamp(m.ts_ms(), m.ts_ms());
  if (!client_msg_id.empty()) {
    replies_.Remember(kind, m.sender(), client_msg_id, ReplyFor(m), m.ts_ms());
  }
}

absl::Status Room::ApplyState(const log::StateSet& s, v1::StateComponent* out) {
  stamper_.Stamp(s.ts_ms(), s.ts_ms());
  absl::StatusOr<v1::StateComponent> c =
      closer_.SetState(s.component(), s.value(), s.ts_ms(), s.set_by());
  if (!c.ok()) return c.status();
  if (out != nullptr) *out = *std::move(c);
  return absl::OkStatus();
}

std::vector<Upload> Room::Close(int64_t watermark_ms, int64_t now_ms) {
  std::vector<segmenter::ClosedObject> closed;
  closer_.Close(watermark_ms, &closed);
  std::vector<Upload> out;
  out.reserve(closed.size() + 1);
  for (segmenter::ClosedObject& o : closed) {
    out.push_back({.path = std::move(o.path),
                   .bytes = std::move(o.bytes),
                   .gate_ms = o.gate_ms});
  }
  const uint64_t v = manifest_version();
  if (v > published_version_) {
    v1::Manifest m = closer_.manifest().Build(now_ms, watermark_ms);
    m.set_version(v);
    out.push_back({.path = segmenter::ManifestPath(closer_.identity().room,
                                                   segmenter::Format::kProto, closer_.scope()),
                   .bytes = segmenter::SerializeDeterministic(m),
                   .manifest_version = v});
    published_version_ = v;
  }
  return out;
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
  return closer_.manifest().version() + version_offset_;
}

bool Room::Unpublished() const {
  return closer_.HasUnclosed() || manifest_version() > published_version_;
}

}  // namespace roomcast::publisher::internal
