// Ingest's moderation calls (DESIGN §11): retract, ban and unban, live
// settings. Each is authorised and checked before the log, decided inside
// the sequencer's prepare (where the room's open buckets and seqs are what
// they are), logged as one or two records and answered once durable.
#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/ids.h"
#include "base/status_macros.h"
#include "publisher/internal/ingest.h"
#include "publisher/internal/moderation.h"
#include "publisher/internal/room.h"
#include "publisher/internal/validation.h"
#include "segmenter/takedown.h"

namespace roomcast::publisher::internal {
namespace {

using Draft = Sequencer::Draft;

constexpr size_t kMaxReasonBytes = 256;
constexpr uint32_t kDefaultBanS = 600;
constexpr uint32_t kMaxBanS = 365 * 24 * 3600;
constexpr uint32_t kMaxRetractRecentS = 3600;
constexpr size_t kMaxTakedownReasonBytes = 512;

absl::Status CheckReason(const std::string& reason) {
  if (reason.size() > kMaxReasonBytes || !IsValidUtf8(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a reason is at most ", kMaxReasonBytes, " bytes of UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status NeedModerator(const auth::Claims& who) {
  if (Admission::RunsTheRoom(who)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      "only a moderator, the anchor or the service moderates a room");
}

// A record of the room, from `who`, with the next seq and a receive time.
v1::Message ModerationMessage(Draft& d, Room* r, const auth::Claims& who) {
  v1::Message m;
  m.set_seq(r->NextSeq());
  m.set_ts_ms(d.Stamp(r));
  m.set_kind(v1::KIND_ACTION);
  m.set_sender(who.sub);
  m.set_role(who.role);
  m.set_priority(v1::PRIORITY_HIGH);
  return m;
}

// Drafts the retraction of `seqs` (none retracted yet): those still open
// are tombstoned in their buckets, held open until the record is durable;
// the rest are announced by a `retract` record in the current bucket.
void DraftRetraction(Draft& d, Room* r, const auth::Claims& who,
                     const std::vector<uint64_t>& seqs,
                     const std::string& reason) {
  log::Record rec;
  rec.set_room(r->name());
  log::Retraction* x = rec.mutable_retraction();
  x->set_by(who.sub);
  v1::Retract published;
  for (uint64_t seq : seqs) {
    // An open message the live push may have streamed is published as far
    // as readers go: announced, not tombstoned (DESIGN §10, §11). The
    // branch is logged (unpublished or record), so replay takes it again.
    const v1::Message* open = r->FindOpen(seq);
    if (open != nullptr && !r->LivePushed(seq)) {
      x->add_unpublished(seq);
      d.HoldOpen(open->ts_ms());
      r->WithholdLive(seq);  // until durable (Apply) or rolled back
    } else {
      published.add_seqs(seq);
    }
  }
  if (published.seqs_size() > 0) {
    published.set_reason(reason);
    v1::Message m = ModerationMessage(d, r, who);
    *m.mutable_retract() = std::move(published);
    x->set_ts_ms(m.ts_ms());
    *x->mutable_record() = std::move(m);
  } else {
    x->set_ts_ms(d.Stamp(r));
  }
  d.Add(std::move(rec));
}

absl::Status DraftRetract(Draft& d, const auth::Claims& who,
                          const std::string& room, uint64_t seq,
                          const std::string& reason) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  RoomModeration& mod = r->moderation();
  if (seq == 0 || seq > r->durable_seq()) {
    return absl::NotFoundError(
        absl::StrCat("room '", room, "' has no message #", seq));
  }
  if (!Admission::RunsTheRoom(who)) {
    if (auto until = mod.BannedUntil(who.sub, d.NowMs()))
      return BannedError(*until);
    const std::string* sender = mod.SenderOf(seq);
    if (sender == nullptr || *sender != who.sub) {
      return absl::PermissionDeniedError(
          "only its sender (for a recent message), a moderator, the anchor or "
          "the service "
          "retracts a message");
    }
  }
  if (mod.Retracted(seq)) return absl::OkStatus();  // a repeat: already durable
  ROOMCAST_RETURN_IF_ERROR(r->CanSetModerationState(kRedactionsComponent));
  DraftRetraction(d, r, who, {seq}, reason);
  return absl::OkStatus();
}

absl::Status DraftBan(Draft& d, const auth::Claims& who,
                      const std::string& room, const v1::BanRequest& req,
                      v1::BanReply* reply) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  RoomModeration& mod = r->moderation();
  std::vector<uint64_t> recent;
  if (req.retract_recent_s() > 0) {
    recent = mod.RecentBy(req.user(),
                          d.NowMs() - int64_t{req.retract_recent_s()} * 1000);
  }
  if (!recent.empty()) {
    ROOMCAST_RETURN_IF_ERROR(r->CanSetModerationState(kRedactionsComponent));
    DraftRetraction(d, r, who, recent, req.reason());
  }
  const int64_t duration_ms =
      int64_t{req.has_duration_s() ? req.duration_s() : kDefaultBanS} * 1000;
  log::Record rec;
  rec.set_room(room);
  log::BanSet* ban = rec.mutable_ban();
  ban->set_user(req.user());
  ban->set_silent(req.silent());
  ban->set_reason(req.reason());
  if (req.silent()) {
    ban->set_ts_ms(d.Stamp(r));
  } else {
    v1::Message m = ModerationMessage(d, r, who);
    ban->set_ts_ms(m.ts_ms());
    m.mutable_ban()->set_user(req.user());
    m.mutable_ban()->set_until_ms(m.ts_ms() + duration_ms);
    m.mutable_ban()->set_reason(req.reason());
    *ban->mutable_record() = std::move(m);
  }
  ban->set_until_ms(ban->ts_ms() + duration_ms);
  reply->set_user(req.user());
  reply->set_until_ms(ban->until_ms());
  for (uint64_t s : recent) reply->add_retracted(s);
  d.Add(std::move(rec));
  return absl::OkStatus();
}

absl::Status DraftUnban(Draft& d, const auth::Claims& who,
                        const std::string& room, const std::string& user) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  RoomModeration& mod = r->moderation();
  if (!mod.BannedUntil(user, d.NowMs()))
    return absl::OkStatus();  // nothing to lift
  log::Record rec;
  rec.set_room(room);
  log::BanSet* ban = rec.mutable_ban();
  ban->set_user(user);
  ban->set_until_ms(0);
  if (mod.SilentBan(user)) {
    ban->set_silent(true);
    ban->set_ts_ms(d.Stamp(r));
  } else {
    v1::Message m = ModerationMessage(d, r, who);
    ban->set_ts_ms(m.ts_ms());
    m.mutable_ban()->set_user(user);
    *ban->mutable_record() = std::move(m);
  }
  d.Add(std::move(rec));
  return absl::OkStatus();
}

absl::Status CheckTakedown(const auth::Claims& who, const v1::TakedownRequest& req) {
  if (who.role != v1::ROLE_SERVICE) {
    return absl::PermissionDeniedError("only the service takes messages down");
  }
  if (req.seqs().empty() || static_cast<size_t>(req.seqs_size()) > segmenter::kMaxTakedownSeqs) {
    return absl::InvalidArgumentError(
        absl::StrCat("a takedown names 1..", segmenter::kMaxTakedownSeqs, " seqs"));
  }
  if (req.reason().size() > kMaxTakedownReasonBytes || !IsValidUtf8(req.reason())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a takedown's reason is at most ", kMaxTakedownReasonBytes, " bytes of UTF-8"));
  }
  return absl::OkStatus();
}

// The takedown's record: open targets retracted before publication (held
// open until durable), the rest for its job, located where the room's
// recent actions know their time.
log::Record TakedownRecord(Draft& d, Room* r, const auth::Claims& who,
                           const std::vector<uint64_t>& seqs, const std::string& reason) {
  log::Record rec;
  rec.set_room(r->name());
  log::Takedown* t = rec.mutable_takedown();
  t->set_id(r->moderation().takedowns().NextId());
  t->set_reason(reason);
  t->set_by(who.sub);
  for (uint64_t seq : seqs) {
    // As for a retraction: one the live push may have streamed is stubbed
    // in the stored objects by the job (the stream of its bucket is then
    // ended by the origin, since the stored records differ).
    const v1::Message* open = r->FindOpen(seq);
    if (open != nullptr && !r->LivePushed(seq)) {
      t->add_unpublished(seq);
      d.HoldOpen(open->ts_ms());
      r->WithholdLive(seq);
      continue;
    }
    t->add_seqs(seq);
    if (std::optional<int64_t> ts = r->moderation().TimeOf(seq)) {
      log::Located* at = t->add_located();
      at->set_seq(seq);
      at->set_ts_ms(*ts);
    }
  }
  t->set_at_ms(d.Stamp(r));
  return rec;
}

absl::Status DraftTakedown(Draft& d, const auth::Claims& who, const std::string& room,
                           const std::vector<uint64_t>& seqs, const std::string& reason,
                           v1::TakedownReply* reply) {
  // An ended room's objects are still served: they can be taken down too.
  Room* r = d.Find(room);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no room '", room, "'"));
  for (uint64_t seq : seqs) {
    if (seq == 0 || seq > r->durable_seq()) {
      return absl::NotFoundError(absl::StrCat("room '", room, "' has no message #", seq));
    }
  }
  RoomTakedowns& t = r->moderation().takedowns();
  if (std::optional<RoomTakedowns::Covered> c = t.Covering(seqs)) {
    reply->set_takedown(c->id);  // a repeat: already durable
    reply->set_done(c->finished);
    return absl::OkStatus();
  }
  if (t.jobs().size() >= RoomTakedowns::kMaxJobs) {
    return RateLimitedError(1000);
  }
  ROOMCAST_RETURN_IF_ERROR(r->CanSetModerationState(kTakedownsComponent));
  log::Record rec = TakedownRecord(d, r, who, seqs, reason);
  reply->set_takedown(rec.takedown().id());
  reply->set_done(rec.takedown().seqs().empty());
  d.Add(std::move(rec));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSettings(const v1::RoomSettingsRequest& s) {
  if (s.has_slow_mode_s() && s.slow_mode_s() > RoomModeration::kMaxSlowModeS) {
    return absl::InvalidArgumentError(
        absl::StrCat("slow_mode_s must be 0..", RoomModeration::kMaxSlowModeS));
  }
  if (s.has_review_delay_ms() &&
      s.review_delay_ms() > RoomModeration::kMaxReviewDelayMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "review_delay_ms must be 0..", RoomModeration::kMaxReviewDelayMs));
  }
  return absl::OkStatus();
}

absl::Status DraftSettings(Draft& d, const auth::Claims& who,
                           const std::string& room,
                           const v1::RoomSettingsRequest& req,
                           log::RoomSettings* out) {
  ROOMCAST_ASSIGN_OR_RETURN(Room * r, d.Live(room));
  log::RoomSettings s = r->moderation().settings();
  if (req.has_slow_mode_s()) s.set_slow_mode_s(req.slow_mode_s());
  if (req.has_review_delay_ms()) s.set_review_delay_ms(req.review_delay_ms());
  *out = s;
  ROOMCAST_RETURN_IF_ERROR(r->CanSetModerationState(kSettingsComponent));
  log::Record rec;
  rec.set_room(room);
  *rec.mutable_settings()->mutable_settings() = s;
  rec.mutable_settings()->set_ts_ms(d.Stamp(r));
  rec.mutable_settings()->set_by(who.sub);
  d.Add(std::move(rec));
  return absl::OkStatus();
}

absl::Status CheckPoster(Draft& d, Room* r, const v1::Message& first,
                         size_t n) {
  RoomModeration& mod = r->moderation();
  const int64_t now = d.NowMs();
  if (auto until = mod.BannedUntil(first.sender(), now))
    return BannedError(*until);
  if (first.role() != v1::ROLE_AUDIENCE || mod.settings().slow_mode_s() == 0) {
    return absl::OkStatus();
  }
  if (n > 1) {
    return RateLimitedError(int64_t{mod.settings().slow_mode_s()} * 1000);
  }
  if (const int64_t wait = mod.SlowModeWaitMs(first.sender(), now); wait > 0) {
    return RateLimitedError(wait);
  }
  mod.Posted(first.sender(), now);
  return absl::OkStatus();
}

void Ingest::Retract(const auth::Claims& who, const std::string& room,
                     uint64_t seq, const v1::RetractRequest& request,
                     Callback<v1::RetractReply> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok()) s = CheckReason(request.reason());
  if (!s.ok()) return done(s);
  auto reply = std::make_shared<v1::RetractReply>();
  reply->set_seq(seq);
  reply->set_retracted(true);
  sequencer_->Submit(
      {.prepare =
           [who, room, seq, reason = request.reason()](Draft& d) {
             return DraftRetract(d, who, room, seq, reason);
           },
       .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::Takedown(const auth::Claims& who, const std::string& room,
                      const v1::TakedownRequest& request, Callback<v1::TakedownReply> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok()) s = CheckTakedown(who, request);
  if (!s.ok()) return done(s);
  std::vector<uint64_t> seqs(request.seqs().begin(), request.seqs().end());
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  auto reply = std::make_shared<v1::TakedownReply>();
  for (uint64_t seq : seqs) reply->add_seqs(seq);
  sequencer_->Submit(
      {.prepare =
           [who, room, seqs = std::move(seqs), reason = request.reason(), reply](Draft& d) {
             return DraftTakedown(d, who, room, seqs, reason, reply.get());
           },
       .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::Ban(const auth::Claims& who, const std::string& room,
                 const v1::BanRequest& request, Callback<v1::BanReply> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok()) s = NeedModerator(who);
  if (s.ok() && !base::IsValidId(request.user())) {
    s = absl::InvalidArgumentError("user ids are [A-Za-z0-9_-]{1,64}");
  }
  if (s.ok() && request.has_duration_s() &&
      (request.duration_s() == 0 || request.duration_s() > kMaxBanS)) {
    s = absl::InvalidArgumentError(
        absl::StrCat("duration_s must be 1..", kMaxBanS));
  }
  if (s.ok() && request.retract_recent_s() > kMaxRetractRecentS) {
    s = absl::InvalidArgumentError(
        absl::StrCat("retract_recent_s must be 0..", kMaxRetractRecentS));
  }
  if (s.ok()) s = CheckReason(request.reason());
  if (!s.ok()) return done(s);
  auto reply = std::make_shared<v1::BanReply>();
  sequencer_->Submit({.prepare =
                          [who, room, request, reply](Draft& d) {
                            return DraftBan(d, who, room, request, reply.get());
                          },
                      .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::Unban(const auth::Claims& who, const std::string& room,
                   const std::string& user, Callback<v1::BanReply> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok()) s = NeedModerator(who);
  if (s.ok() && !base::IsValidId(user)) {
    s = absl::InvalidArgumentError("user ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!s.ok()) return done(s);
  auto reply = std::make_shared<v1::BanReply>();
  reply->set_user(user);
  sequencer_->Submit(
      {.prepare = [who, room,
                   user](Draft& d) { return DraftUnban(d, who, room, user); },
       .done = ReplyWhenDurable(reply, std::move(done))});
}

void Ingest::UpdateSettings(const auth::Claims& who, const std::string& room,
                            const v1::RoomSettingsRequest& request,
                            Callback<v1::RoomSettingsRequest> done) {
  absl::Status s = admission_->Admit(who, room, 1);
  if (s.ok()) s = NeedModerator(who);
  if (s.ok()) s = CheckSettings(request);
  if (!s.ok()) return done(s);
  auto settings = std::make_shared<log::RoomSettings>();
  sequencer_->Submit(
      {.prepare =
           [who, room, request, settings](Draft& d) {
             return DraftSettings(d, who, room, request, settings.get());
           },
       .done =
           [settings, done = std::move(done)](absl::Status st) mutable {
             if (!st.ok()) return done(st);
             v1::RoomSettingsRequest r;
             r.set_slow_mode_s(settings->slow_mode_s());
             r.set_review_delay_ms(settings->review_delay_ms());
             done(std::move(r));
           }});
}

}  // namespace roomcast::publisher::internal
