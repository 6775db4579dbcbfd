#include "cluster/forward.h"

#include <nats/nats.h>

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cluster/nats_msg.h"
#include "cluster/nats_status.h"

namespace roomcast::cluster {
absl::StatusOr<std::unique_ptr<Responder>> Responder::Serve(JetStream& js, std::string subject,
                                                            std::string queue, Handler handler) {
  std::unique_ptr<Responder> r(new Responder(js, std::move(handler)));
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_QueueSubscribe(&sub, js.connection(), subject.c_str(),
                                               queue.c_str(), &Responder::OnMessage, r.get());
  if (s != NATS_OK) return ToStatus(s, absl::StrCat("serve ", subject));
  r->sub_.Adopt(sub);
  return r;
}

// Drain: no new request is taken, those taken are delivered first.
Responder::~Responder() { sub_.Close(5000); }

void Responder::OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  auto* r = static_cast<Responder*>(self);
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr || *reply == '\0') {  // nobody to answer: not a request
    natsMsg_Destroy(msg);
    return;
  }
  natsConnection* nc = r->js_.connection();
  r->handler_(DataOf(msg), [nc, to = std::string(reply)](std::string answer) {
    (void)natsConnection_Publish(nc, to.c_str(), answer.data(), static_cast<int>(answer.size()));
  });
  natsMsg_Destroy(msg);
}

absl::StatusOr<std::unique_ptr<Requester>> Requester::Open(JetStream& js) {
  std::unique_ptr<Requester> r(new Requester(js));
  natsInbox* inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return ToStatus(s, "inbox");
  r->inbox_ = inbox;
  natsInbox_Destroy(inbox);
  const std::string all = r->inbox_ + ".*";
  natsSubscription* sub = nullptr;
  s = natsConnection_Subscribe(&sub, js.connection(), all.c_str(), &Requester::OnReply, r.get());
  if (s != NATS_OK) return ToStatus(s, "reply subscription");
  r->sub_.Adopt(sub);
  r->reaper_ = std::thread([p = r.get()] { p->Reap(); });
  return r;
}

Requester::~Requester() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (reaper_.joinable()) reaper_.join();
  sub_.Close(0);  // no callback runs after this
  std::map<uint64_t, Pending> left;
  {
    absl::MutexLock l(&mu_);
    left.swap(pending_);
  }
  for (auto& [id, p] : left) p.done(absl::UnavailableError("shutting down"));
}

size_t Requester::pending() {
  absl::MutexLock l(&mu_);
  return pending_.size();
}

void Requester::Request(absl::string_view subject, absl::string_view request,
                        std::chrono::milliseconds timeout, Done done) {
  natsConnection* nc = js_.connection();
  if (static_cast<int64_t>(request.size()) > natsConnection_GetMaxPayload(nc)) {
    return done(absl::OutOfRangeError(absl::StrCat(
        "a request of ", request.size(), " bytes is over NATS' maximum payload of ",
        natsConnection_GetMaxPayload(nc))));
  }
  uint64_t id = 0;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return done(absl::UnavailableError("shutting down"));
    id = next_id_++;
    pending_.emplace(id, Pending{std::move(done), std::chrono::steady_clock::now() + timeout});
  }
  const std::string reply = absl::StrCat(inbox_, ".", id);
  const std::string subj(subject);
  natsStatus s = natsConnection_PublishRequest(nc, subj.c_str(), reply.c_str(), request.data(),
                                               static_cast<int>(request.size()));
  if (s != NATS_OK) {
    if (Done d = Take(id)) d(ToStatus(s, absl::StrCat("request to ", subject)));
  }
}

Requester::Done Requester::Take(uint64_t id) {
  absl::MutexLock l(&mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return nullptr;
  Done d = std::move(it->second.done);
  pending_.erase(it);
  return d;
}

void Requester::OnReply(natsConnection*, natsSubscription*, natsMsg* msg, void* self) {
  auto* r = static_cast<Requester*>(self);
  absl::string_view subject = natsMsg_GetSubject(msg);
  uint64_t id = 0;
  const size_t dot = subject.rfind('.');
  if (dot != absl::string_view::npos && absl::SimpleAtoi(subject.substr(dot + 1), &id)) {
    if (Done d = r->Take(id)) {
      if (natsMsg_IsNoResponders(msg)) {
        d(absl::UnavailableError("no one serves it now (no owner)"));
      } else {
        d(DataOf(msg));
      }
    }
  }
  natsMsg_Destroy(msg);
}

void Requester::Reap() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(50));
    const auto now = std::chrono::steady_clock::now();
    std::vector<Done> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      expired.push_back(std::move(it->second.done));
      it = pending_.erase(it);
    }
    mu_.Unlock();
    for (Done& d : expired) d(absl::UnavailableError("no answer in time"));
    mu_.Lock();
  }
}

}  // namespace roomcast::cluster
