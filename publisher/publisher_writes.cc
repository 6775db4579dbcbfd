// Publisher: messages, state, peer messages, presence and hint keys. Each
// write is validated first, then sequenced on the log's writer thread,
// synced, applied and acknowledged.
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "publisher/publisher.h"
#include "segmenter/messages.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"

namespace roomcast::publisher {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

bool MaySetState(const Claims& who) {
  return who.role == v1::ROLE_ANCHOR || who.role == v1::ROLE_MODERATOR ||
         who.role == v1::ROLE_SERVICE;
}

absl::StatusOr<v1::Message> MessageFrom(const Claims& who,
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

}  // namespace

void Publisher::Post(const Claims& who, const std::string& room,
                     std::vector<v1::MessageInput> inputs,
                     Callback<v1::PostMessagesResponse> done) {
  const auto t0 = std::chrono::steady_clock::now();
  struct Job {
    std::vector<v1::Message> messages;
    std::vector<std::string> ids;
    v1::PostMessagesResponse reply;
    std::vector<log::Record> records;
    absl::Status error;
  };
  auto job = std::make_shared<Job>();
  // Validate before the rate limiter, so refused bodies cost no tokens.
  absl::Status s = inputs.size() > options_.limits.max_batch
                       ? Admit(who, room, inputs.size())
                       : absl::OkStatus();
  for (size_t i = 0; s.ok() && i < inputs.size(); ++i) {
    absl::StatusOr<v1::Message> m = MessageFrom(who, inputs[i], options_.limits);
    if (!m.ok()) {
      s = inputs.size() == 1 ? m.status()
                             : absl::Status(m.status().code(),
                                            absl::StrCat("message ", i, ": ",
                                                         m.status().message()));
      break;
    }
    job->messages.push_back(*std::move(m));
    job->ids.push_back(inputs[i].client_msg_id());
  }
  if (s.ok()) s = Admit(who, room, inputs.size());
  if (!s.ok()) {
    metrics_.requests_rejected.fetch_add(1);
    return done(s);
  }
  Submit(
      [this, job, room](std::vector<log::Record>* out) {
        absl::MutexLock l(&mu_);
        absl::StatusOr<Room*> r = LiveRoom(room);
        if (!r.ok()) {
          job->error = r.status();
          return;
        }
        for (size_t i = 0; i < job->messages.size(); ++i) {
          v1::Message& m = job->messages[i];
          const std::string& id = job->ids[i];
          if (!id.empty()) {
            if (const v1::PostResult* prev = (*r)->FindReply(m.sender(), id)) {
              *job->reply.add_results() = *prev;
              metrics_.messages_deduplicated.fetch_add(1);
              continue;
            }
          }
          m.set_seq((*r)->NextSeq());
          m.set_ts_ms(StampFor(*r));
          const v1::PostResult res = (*r)->ReplyFor(m);
          if (!id.empty()) (*r)->RememberReply(m.sender(), id, false, res, m.ts_ms());
          *job->reply.add_results() = res;
          log::Record& rec = job->records.emplace_back();
          rec.set_room(room);
          *rec.mutable_action()->mutable_message() = std::move(m);
          rec.mutable_action()->set_client_msg_id(id);
          out->push_back(rec);
        }
      },
      [this, job, t0, done = std::move(done)](absl::Status s) mutable {
        if (!job->error.ok()) return done(job->error);
        if (!s.ok()) {
          healthy_ = false;
          ApplyDurable({}, job->records.size());
          return done(absl::UnavailableError(s.message()));
        }
        ApplyDurable(job->records, job->records.size());
        metrics_.messages_accepted.fetch_add(job->records.size());
        metrics_.ack_latency.Observe(SecondsSince(t0));
        done(std::move(job->reply));
      });
}

void Publisher::SetState(const Claims& who, const std::string& room,
                         const std::string& component,
                         google::protobuf::Value value,
                         Callback<StateReply> done) {
  absl::Status s = Admit(who, room, 1);
  if (s.ok() && !MaySetState(who)) {
    s = absl::PermissionDeniedError("only anchor, moderator or service set state");
  }
  if (s.ok() && !segmenter::IsValidId(component)) {
    s = absl::InvalidArgumentError("component names are [A-Za-z0-9_-]{1,64}");
  }
  if (s.ok()) s = CheckStateValue(value, options_.limits);
  if (!s.ok()) return done(s);
  struct Job {
    google::protobuf::Value value;
    std::vector<log::Record> records;
    absl::Status error;
  };
  auto job = std::make_shared<Job>(Job{.value = std::move(value)});
  Submit(
      [this, job, room, component, sub = who.sub](std::vector<log::Record>* out) {
        absl::MutexLock l(&mu_);
        absl::StatusOr<Room*> r = LiveRoom(room);
        job->error = r.ok() ? (*r)->CanSetState(component) : r.status();
        if (!job->error.ok()) return;
        log::Record& rec = job->records.emplace_back();
        rec.set_room(room);
        log::StateSet* set = rec.mutable_state();
        set->set_component(component);
        *set->mutable_value() = std::move(job->value);
        set->set_ts_ms(StampFor(*r));
        set->set_set_by(sub);
        out->push_back(rec);
      },
      [this, job, done = std::move(done)](absl::Status s) mutable {
        if (!job->error.ok()) return done(job->error);
        if (!s.ok()) {
          healthy_ = false;
          ApplyDurable({}, job->records.size());
          return done(absl::UnavailableError(s.message()));
        }
        v1::StateComponent c;
        ApplyDurable(job->records, job->records.size(), &c);
        done(StateReply{.component = c.name(), .version = c.version(),
                        .total_version = c.total_version(), .ts_ms = c.ts_ms()});
      });
}

void Publisher::PostPeer(const Claims& who, const std::string& room,
                         const std::string& user, const v1::MessageInput& input,
                         Callback<v1::PostResult> done) {
  absl::Status s = Admit(who, room, 1);
  if (s.ok() && !MaySetState(who)) {
    s = absl::PermissionDeniedError(
        "only anchor, moderator or service send peer messages");
  }
  if (s.ok() && !segmenter::IsValidId(user)) {
    s = absl::InvalidArgumentError("user ids are [A-Za-z0-9_-]{1,64}");
  }
  absl::StatusOr<v1::Message> m = MessageFrom(who, input, options_.limits);
  if (s.ok()) s = m.status();
  if (!s.ok()) return done(s);
  m->set_kind(v1::KIND_PEER);
  m->set_recipient(user);
  struct Job {
    v1::Message message;
    std::string id;
    v1::PostResult reply;
    std::vector<log::Record> records;
    absl::Status error;
  };
  auto job = std::make_shared<Job>(
      Job{.message = *std::move(m), .id = input.client_msg_id()});
  Submit(
      [this, job, room](std::vector<log::Record>* out) {
        absl::MutexLock l(&mu_);
        absl::StatusOr<Room*> r = LiveRoom(room);
        if (!r.ok()) {
          job->error = r.status();
          return;
        }
        v1::Message& msg = job->message;
        if (!job->id.empty()) {
          if (const v1::PostResult* prev = (*r)->FindPeerReply(msg.sender(), job->id)) {
            job->reply = *prev;
            return;
          }
        }
        msg.set_seq((*r)->NextPeerSeq());
        msg.set_ts_ms(StampFor(*r));
        job->reply = (*r)->ReplyFor(msg);
        if (!job->id.empty()) {
          (*r)->RememberReply(msg.sender(), job->id, true, job->reply, msg.ts_ms());
        }
        log::Record& rec = job->records.emplace_back();
        rec.set_room(room);
        *rec.mutable_peer()->mutable_message() = msg;
        rec.mutable_peer()->set_client_msg_id(job->id);
        out->push_back(rec);
      },
      [this, job, done = std::move(done)](absl::Status s) mutable {
        if (!job->error.ok()) return done(job->error);
        if (!s.ok()) {
          healthy_ = false;
          ApplyDurable({}, job->records.size());
          return done(absl::UnavailableError(s.message()));
        }
        ApplyDurable(job->records, job->records.size());
        done(job->reply);
      });
}

absl::Status Publisher::Presence(const Claims& who, const std::string& room) {
  if (!segmenter::IsValidId(room)) {
    return absl::InvalidArgumentError("room ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!AllowsRoom(who, room)) {
    return absl::PermissionDeniedError("the token is for another room");
  }
  absl::MutexLock l(&mu_);
  ROOMCAST_RETURN_IF_ERROR(LiveRoom(room).status());
  auto [it, fresh] = presence_.try_emplace(room, options_.presence_window_ms);
  it->second.Heartbeat(who.sub, clock_->NowMs());
  return absl::OkStatus();
}

void Publisher::PublishPresence(int64_t now_ms) {
  std::vector<std::pair<std::string, uint64_t>> changed;
  {
    absl::MutexLock l(&mu_);
    if (now_ms < next_presence_ms_) return;
    next_presence_ms_ = now_ms + options_.presence_period_ms;
    for (auto it = presence_.begin(); it != presence_.end();) {
      const uint64_t n = it->second.Count(now_ms);
      Room* room = FindRoom(it->first);
      if (room == nullptr || !room->accepting() || (n == 0 && it->second.published <= 0)) {
        presence_.erase(it++);
        continue;
      }
      if (static_cast<int64_t>(n) != it->second.published) {
        it->second.published = static_cast<int64_t>(n);
        changed.emplace_back(it->first, n);
      }
      ++it;
    }
  }
  const Claims self{.sub = options_.id, .role = v1::ROLE_SERVICE, .room = "*"};
  for (const auto& [room, n] : changed) {
    google::protobuf::Value v;
    v.set_number_value(static_cast<double>(n));
    SetState(self, room, "online", std::move(v), [room = room](auto r) {
      if (!r.ok()) {
        std::cerr << "roomcast-publisher: online count of " << room << ": "
                  << r.status() << std::endl;
      }
    });
  }
}

absl::StatusOr<v1::HintKey> Publisher::HintKeyFor(const Claims& who,
                                                  const std::string& room,
                                                  const std::string& user) {
  if (!segmenter::IsValidId(room) || !segmenter::IsValidId(user)) {
    return absl::InvalidArgumentError("room and user ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!AllowsRoom(who, room) || (who.sub != user && who.role != v1::ROLE_SERVICE)) {
    return absl::PermissionDeniedError("a hint key is only for its own user");
  }
  absl::MutexLock l(&mu_);
  Room* r = FindRoom(room);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("room '", room, "' is not open"));
  }
  v1::HintKey key;
  key.set_room(room);
  key.set_user(user);
  key.set_key(segmenter::HintKeyBytes(
      segmenter::DeriveHintKey(r->id().hint_secret, user)));
  return key;
}

}  // namespace roomcast::publisher
