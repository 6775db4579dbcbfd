#include "cluster/async_subscription.h"

#include <nats/nats.h>

#include "absl/time/time.h"
#include "base/log.h"

namespace roomcast::cluster {

void AsyncSubscription::Adopt(natsSubscription* sub) {
  sub_ = sub;
  if (natsSubscription_SetOnCompleteCB(sub_, &AsyncSubscription::OnComplete, this) != NATS_OK) {
    // Already closed (its connection closed in between): no handler can
    // be set, and none will run again once it is destroyed.
    absl::MutexLock l(&mu_);
    complete_ = true;
  }
}

void AsyncSubscription::OnComplete(void* self) {
  auto* s = static_cast<AsyncSubscription*>(self);
  absl::MutexLock l(&s->mu_);
  s->complete_ = true;
}

void AsyncSubscription::Close(int drain_ms) {
  if (sub_ == nullptr) return;
  // A drain with a timeout closes the subscription when it elapses; one
  // that cannot start (the connection closed or closing) is replaced by an
  // unsubscribe, which closes it at once. Either way the completion
  // callback follows the handler's last return.
  if (drain_ms <= 0 || natsSubscription_DrainTimeout(sub_, drain_ms) != NATS_OK) {
    (void)natsSubscription_Unsubscribe(sub_);
  }
  {
    absl::MutexLock l(&mu_);
    // The handler's last run is bounded by the calls it makes (their own
    // timeouts); the wait is not, as returning early is the crash this
    // class exists to prevent. Said once a while, so a hang is visible.
    while (!mu_.AwaitWithTimeout(absl::Condition(&complete_), absl::Seconds(10) +
                                                                  absl::Milliseconds(drain_ms))) {
      ROOMCAST_LOG(kWarning, "cluster", "subscription_close_waiting")
          .Kv("subject", natsSubscription_GetSubject(sub_));
    }
  }
  natsSubscription_Destroy(sub_);
  sub_ = nullptr;
}

}  // namespace roomcast::cluster
