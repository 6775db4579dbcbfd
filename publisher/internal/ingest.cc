#include "publisher/internal/ingest.h"

#include <chrono>
#include <memory>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/ids.h"
#include "base/status_macros.h"
#include "publisher/internal/moderation.h"
#include "publisher/internal/room.h"
#include "publisher/internal/validation.h"
#include "segmenter/messages.h"

namespace roomcast::publisher::internal {
namespace {

using Draft = Sequencer::Draft;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

absl::StatusOr<v1::Message> MessageFrom(const auth::Claims& who,
                                        const v1::MessageInput& in,
                                        const IngestLimits& limits) {
  v1::Message m;
  ROOMCAST_RETURN_IF_ERROR(BuildBody(in, limits, &m));
  m.set_kind(v1::KIND_ACTION);
  m.set_sender(who.sub);
  m.set_role(who.role);
  m.set_priority(segmenter::DefaultPriority(who.role, m));
  return m;
}

// Opens `room`, unless it is open already with this config.
absl::Status DraftOpen(Draft& d, const std::string& room, const v1::RoomConfig& config,
                       const v1::RoomSettingsRequest& settings) {
  if (Room* r = d.Find(room); r != nullptr) {
    if (!r->accepting()) {
      return absl::FailedPreconditionError("the room has ended");
    }
    if (r->config().SerializeAsString() != config.SerializeAsString()) {
      return absl::FailedPreconditionError(
          "the room is open with another config");
    }
    return absl::OkStatus();  // already open as asked: nothing to write
  }
  const int64_t now = d.OpeningTimeMs();
  log::Record rec;
  rec.set_room(room);
  *rec.mutable_opened()->mutable_config() = config;
  rec.mutable_opened()->set_opened_ms(now);
  // The epoch must differ if the room is ever re-created (history lost):
  // time plus randomness.
  rec.mutable_opened()->set_epoch(static_cast<uint64_t>(now) * 1000 +
                                  std::random_device{}() % 1000);
  d.ApplyNow(rec).IgnoreError();  // visible to the rest of the batch
  d.Add(std::move(rec));
  if (!settings.has_slow_mode_s() && !settings.has_review_delay_ms()) return absl::OkStatus();
  log::RoomSettings unused;
  auth::Claims service;
  service.sub = "service";
  service.role = v1::ROLE_SERVICE;
  return DraftSettings(d, service, room, settings, &unused);
}

// Ends a live room: no more writes from now on, `config` for the reply.
absl::Status DraftEnd(Draft& d, const std::string& room,
                      v1::RoomConfig* config) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  r->MarkEnding();
  *config = r->config();
  log::Record rec;
  rec.set_room(room);
  rec.mutable_ended()->set_ts_ms(d.NowMs());
  d.Add(std::move(rec));
  return absl::OkStatus();
}

// Sets a component of a live room, if it may have one more.
absl::Status DraftState(Draft& d, const std::string& room,
                        const std::string& component,
                        google::protobuf::Value value, const std::string& sub,
                        uint32_t ttl_s) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  ROOMCAST_RETURN_IF_ERROR(r->CanSetState(component, value));
  log::Record rec;
  rec.set_room(room);
  log::StateSet* state = rec.mutable_state();
  state->set_component(component);
  *state->mutable_value() = std::move(value);
  state->set_ts_ms(d.Stamp(r));
  state->set_set_by(sub);
  if (ttl_s > 0) state->set_expires_ms(state->ts_ms() + int64_t{ttl_s} * 1000);
  d.Add(std::move(rec));
  return absl::OkStatus();
}

// Sequences a peer message, or answers a retry with the first reply.
absl::Status DraftPeer(Draft& d, const std::string& room, v1::Message msg,
                       const std::string& id, v1::PostResult* reply) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  if (!id.empty()) {
    if (const v1::PostResult* prev =
            r->replies().Find(ReplyKind::kPeer, msg.sender(), id)) {
      *reply = *prev;
      return absl::OkStatus();
    }
  }
  msg.set_seq(r->NextPeerSeq());
  msg.set_ts_ms(d.Stamp(r));
  *reply = r->ReplyFor(msg);
  if (!id.empty()) {
    r->replies().Remember(ReplyKind::kPeer, msg.sender(), id, *reply,
                          msg.ts_ms());
  }
  log::Record rec;
  rec.set_room(room);
  *rec.mutable_peer()->mutable_message() = std::move(msg);
  rec.mutable_peer()->set_client_msg_id(id);
  d.Add(std::move(rec));
  return absl::OkStatus();
}

}  // namespace

struct Ingest::Batch {
  std::vector<v1::Message> messages;
  std::vector<std::string> ids;  // client_msg_id of each message
  v1::PostMessagesResponse reply;
  size_t sequenced = 0;  // messages new to the log (not retries)
};

Ingest::Ingest(Options options, Admission* admission, Sequencer* sequencer,
               http::Metrics* metrics)
    : options_(std::move(options)),
      admission_(admission),
      sequencer_(sequencer),
      accepted_(
          metrics->AddCounter("roomcast_publisher_messages_accepted_total",
                              "Actions acknowledged (durable)")),
      deduplicated_(
          metrics->AddCounter("roomcast_publisher_messages_deduplicated_total",
                              "Retries answered from the idempotency window")),
      rejected_(
          metrics->AddCounter("roomcast_publisher_requests_rejected_total",
                              "Writes refused before the log")),
      ack_latency_(metrics->AddHistogram(
          "roomcast_publisher_ack_latency_seconds",
          "POST to durable acknowledgement", {}, http::FastLatencyBuckets())) {}

void Ingest::OpenRoom(const auth::Claims& who, const std::string& room,
                      const v1::OpenRoomRequest& request,
                      Callback<v1::RoomConfig> done) {
  absl::Status s = Admission::CheckRoom(who, room);
  if (s.ok()) s = Admission::NeedRole(who, {v1::ROLE_SERVICE});
  if (s.ok()) s = admission_->Writable();
  absl::StatusOr<v1::RoomConfig> config =
      ConfigFromRequest(request, options_.rollup_ms);
  if (s.ok()) s = config.status();
  v1::RoomSettingsRequest settings;
  if (request.has_slow_mode_s()) settings.set_slow_mode_s(request.slow_mode_s());
  if (request.has_review_delay_ms()) settings.set_review_delay_ms(request.review_delay_ms());
  if (s.ok()) s = CheckSettings(settings);
  if (!s.ok()) return done(s);
  auto reply = std::make_shared<v1::RoomConfig>(*std::move(config));
  sequencer_->Submit(
      {.prepare = [room, reply,
                   settings](Draft& d) { return DraftOpen(d, room, *reply, settings); },
       .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::EndRoom(const auth::Claims& who, const std::string& room,
                     Callback<v1::RoomConfig> done) {
  absl::Status s = Admission::CheckRoom(who, room);
  if (s.ok()) s = Admission::NeedRole(who, {v1::ROLE_SERVICE, v1::ROLE_ANCHOR});
  if (s.ok()) s = admission_->Writable();
  if (!s.ok()) return done(s);
  auto reply = std::make_shared<v1::RoomConfig>();
  sequencer_->Submit(
      {.prepare = [room,
                   reply](Draft& d) { return DraftEnd(d, room, reply.get()); },
       .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::Post(const auth::Claims& who, const std::string& room,
                  std::vector<v1::MessageInput> inputs,
                  Callback<v1::PostMessagesResponse> done) {
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<Batch> batch = Validate(who, room, inputs);
  if (!batch.ok()) {
    rejected_.Add();
    return done(batch.status());
  }
  auto b = std::make_shared<Batch>(*std::move(batch));
  sequencer_->Submit(
      {.prepare = [this, b, room](Draft& d) { return Sequence(d, room, *b); },
       .done =
           [this, b, t0, done = std::move(done)](absl::Status s) mutable {
             if (!s.ok()) return done(s);
             accepted_.Add(b->sequenced);
             ack_latency_.Observe(SecondsSince(t0));
             done(std::move(b->reply));
           }});
}

absl::StatusOr<Ingest::Batch> Ingest::Validate(
    const auth::Claims& who, const std::string& room,
    const std::vector<v1::MessageInput>& inputs) {
  // Bodies are checked before the rate limiter, so refused ones cost no
  // tokens; but a batch too large is refused before its bodies are read.
  if (inputs.size() > options_.limits.max_batch) {
    ROOMCAST_RETURN_IF_ERROR(admission_->Admit(who, room, inputs.size()));
  }
  Batch b;
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<v1::Message> m =
        MessageFrom(who, inputs[i], options_.limits);
    if (!m.ok() && inputs.size() > 1) {
      return absl::Status(
          m.status().code(),
          absl::StrCat("message ", i, ": ", m.status().message()));
    }
    if (!m.ok()) return m.status();
    b.messages.push_back(*std::move(m));
    b.ids.push_back(inputs[i].client_msg_id());
  }
  ROOMCAST_RETURN_IF_ERROR(admission_->Admit(who, room, inputs.size()));
  return b;
}

absl::Status Ingest::Sequence(Draft& d, const std::string& room, Batch& b) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  // A retry of what was acked passes; anything new meets bans and slow mode.
  size_t fresh = 0;
  for (size_t i = 0; i < b.messages.size(); ++i) {
    fresh += b.ids[i].empty() ||
             r->replies().Find(ReplyKind::kAction, b.messages[i].sender(), b.ids[i]) == nullptr;
  }
  if (fresh > 0) ROOMCAST_RETURN_IF_ERROR(CheckPoster(d, r, b.messages.front(), fresh));
  for (size_t i = 0; i < b.messages.size(); ++i) {
    v1::Message& m = b.messages[i];
    const std::string& id = b.ids[i];
    const v1::PostResult* prev =
        id.empty() ? nullptr
                   : r->replies().Find(ReplyKind::kAction, m.sender(), id);
    if (prev != nullptr) {
      *b.reply.add_results() = *prev;
      deduplicated_.Add();
      continue;
    }
    m.set_seq(r->NextSeq());
    m.set_ts_ms(d.Stamp(r));
    const v1::PostResult res = r->ReplyFor(m);
    if (!id.empty()) {
      r->replies().Remember(ReplyKind::kAction, m.sender(), id, res, m.ts_ms());
    }
    *b.reply.add_results() = res;
    log::Record rec;
    rec.set_room(room);
    *rec.mutable_action()->mutable_message() = std::move(m);
    rec.mutable_action()->set_client_msg_id(id);
    d.Add(std::move(rec));
    ++b.sequenced;
  }
  return absl::OkStatus();
}

void Ingest::SetState(const auth::Claims& who, const std::string& room,
                      const std::string& component,
                      google::protobuf::Value value, uint32_t ttl_s,
                      Callback<v1::StateComponent> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok() && !Admission::RunsTheRoom(who)) {
    s = absl::PermissionDeniedError(
        "only anchor, moderator or service set state");
  }
  if (s.ok() && !base::IsValidId(component)) {
    s = absl::InvalidArgumentError("component names are [A-Za-z0-9_-]{1,64}");
  }
  if (s.ok() && (component == kRedactionsComponent || component == kSettingsComponent ||
                 component == kTakedownsComponent)) {
    s = absl::PermissionDeniedError(absl::StrCat(
        "the component '", component, "' is the room's moderation; use its own calls"));
  }
  if (s.ok()) s = CheckStateValue(value, options_.limits);
  if (s.ok() && ttl_s > kMaxStateTtlS) {
    s = absl::InvalidArgumentError(
        absl::StrCat("ttl_s must be 1..", kMaxStateTtlS));
  }
  if (s.ok()) s = admission_->AdmitStateSet(room);
  if (!s.ok()) return done(s);
  auto set = std::make_shared<v1::StateComponent>();
  sequencer_->Submit({.prepare =
                          [room, component, sub = who.sub, ttl_s,
                           value = std::move(value)](Draft& d) mutable {
                            return DraftState(d, room, component,
                                              std::move(value), sub, ttl_s);
                          },
                      .done = ReplyWhenDurable(set, std::move(done)),
                      .state_out = set.get()});
}

void Ingest::PostPeer(const auth::Claims& who, const std::string& room,
                      const std::string& user, const v1::MessageInput& input,
                      Callback<v1::PostResult> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok() && !Admission::RunsTheRoom(who)) {
    s = absl::PermissionDeniedError(
        "only anchor, moderator or service send peer messages");
  }
  if (s.ok() && !base::IsValidId(user)) {
    s = absl::InvalidArgumentError("user ids are [A-Za-z0-9_-]{1,64}");
  }
  absl::StatusOr<v1::Message> m = MessageFrom(who, input, options_.limits);
  if (s.ok()) s = m.status();
  if (!s.ok()) return done(s);
  m->set_kind(v1::KIND_PEER);
  m->set_recipient(user);
  auto reply = std::make_shared<v1::PostResult>();
  sequencer_->Submit({.prepare =
                          [room, reply, id = input.client_msg_id(),
                           msg = *std::move(m)](Draft& d) mutable {
                            return DraftPeer(d, room, std::move(msg), id,
                                             reply.get());
                          },
                      .done = ReplyWhenDurable(reply, std::move(done))});
}

}  // namespace roomcast::publisher::internal
