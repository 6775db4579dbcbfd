#include "cluster/bus.h"

#include <nats/nats.h>

#include "absl/strings/str_cat.h"
#include "cluster/nats_msg.h"
#include "cluster/nats_status.h"

namespace roomcast::cluster {
namespace {

BusMessage FromMsg(natsMsg* m) {
  return {.subject = natsMsg_GetSubject(m), .data = DataOf(m), .headers = HeadersOf(m)};
}

constexpr int64_t kFlushTimeoutMs = 2000;

}  // namespace

void Bus::Subscription::OnMessage(natsConnection*, natsSubscription*, natsMsg* msg,
                                  void* closure) {
  auto* self = static_cast<Subscription*>(closure);
  BusMessage m = FromMsg(msg);
  natsMsg_Destroy(msg);
  self->cb_(m);
}

// Drain: what was received is handled (for up to 5 s), then no callback
// runs again.
Bus::Subscription::~Subscription() { sub_.Close(5000); }

absl::StatusOr<std::unique_ptr<Bus::Subscription>> Bus::Subscribe(const std::string& subject,
                                                                 Callback cb) {
  std::unique_ptr<Subscription> s(new Subscription(std::move(cb)));
  natsSubscription* sub = nullptr;
  natsStatus st = natsConnection_Subscribe(&sub, js_.connection(), subject.c_str(),
                                           &Subscription::OnMessage, s.get());
  if (st != NATS_OK) return ToStatus(st, absl::StrCat("subscribe to ", subject));
  s->sub_.Adopt(sub);
  // The server knows of the subscription once this returns, so a message
  // published after Subscribe is heard.
  if (st = natsConnection_FlushTimeout(js_.connection(), kFlushTimeoutMs); st != NATS_OK) {
    return ToStatus(st, absl::StrCat("flush subscription to ", subject));
  }
  return s;
}

absl::Status Bus::Publish(const std::string& subject, absl::string_view data,
                          const std::map<std::string, std::string>& headers) {
  natsMsg* m = nullptr;
  natsStatus st = natsMsg_Create(&m, subject.c_str(), nullptr, data.data(),
                                 static_cast<int>(data.size()));
  for (auto it = headers.begin(); st == NATS_OK && it != headers.end(); ++it) {
    st = natsMsgHeader_Set(m, it->first.c_str(), it->second.c_str());
  }
  if (st == NATS_OK) st = natsConnection_PublishMsg(js_.connection(), m);
  natsMsg_Destroy(m);
  return ToStatus(st, absl::StrCat("publish to ", subject));
}

}  // namespace roomcast::cluster
