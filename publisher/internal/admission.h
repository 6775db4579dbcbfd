// Who may write what, and how fast (DESIGN §6): the checks every ingest call
// makes before anything reaches the log. A room id must be valid and in the
// token; some calls need a role; audience senders are rate-limited per user
// and per room; nobody writes while the log is unhealthy or far behind.
// Refusals are statuses the API maps to 400/403/413/429/503, a 429 carrying
// its Retry-After (RetryAfterSeconds).
//
//   Admission admission(options.limits, options.rates, &clock, &sequencer,
//                       &metrics);
//   ROOMCAST_RETURN_IF_ERROR(admission.Admit(who, "lobby", batch.size()));
#ifndef ROOMCAST_PUBLISHER_INTERNAL_ADMISSION_H_
#define ROOMCAST_PUBLISHER_INTERNAL_ADMISSION_H_

#include <cstddef>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "http/metrics.h"
#include "publisher/internal/limiter.h"
#include "publisher/internal/sequencer.h"
#include "publisher/options.h"

namespace roomcast::publisher::internal {

// kResourceExhausted with a Retry-After of `wait_ms` rounded up to seconds.
absl::Status RateLimitedError(int64_t wait_ms);
// kPermissionDenied for a banned user, carrying when the ban ends
// (publisher::BannedUntilMs).
absl::Status BannedError(int64_t until_ms);

class Admission {
 public:
  Admission(IngestLimits limits, RateLimits rates, const base::Clock* clock,
            const Sequencer* sequencer, http::Metrics* metrics);

  // kInvalidArgument for a malformed room id, kPermissionDenied for a token
  // of another room.
  static absl::Status CheckRoom(const auth::Claims& who,
                                const std::string& room);
  // kPermissionDenied unless `who` has one of `roles`.
  static absl::Status NeedRole(const auth::Claims& who,
                               std::initializer_list<v1::Role> roles);
  // Anchors, moderators and the service run a room: they set state and
  // send peer messages.
  static bool RunsTheRoom(const auth::Claims& who);
  // A user's hint key is for that user (or the service) only.
  static absl::Status CheckHintKey(const auth::Claims& who,
                                   const std::string& room,
                                   const std::string& user);

  // kUnavailable while the log cannot take writes.
  absl::Status Writable() const { return sequencer_->Writable(); }
  // The gate of a write of `n` messages: the room, the batch size, the
  // log, then for audience senders the rate limits (kResourceExhausted).
  absl::Status Admit(const auth::Claims& who, const std::string& room,
                     size_t n);
  // A presence heartbeat: the room, then its own per-user rate (every role;
  // kResourceExhausted with a Retry-After beyond it).
  absl::Status AdmitPresence(const auth::Claims& who, const std::string& room);
  // A state set: the room's own rate of state sets (kResourceExhausted).
  absl::Status AdmitStateSet(const std::string& room);

 private:
  const IngestLimits limits_;
  const RateLimits rates_;
  const base::Clock* const clock_;
  const Sequencer* const sequencer_;
  RateLimiter limiter_;
  RateLimiter presence_limiter_;
  RateLimiter state_limiter_;
  http::Counter& rate_limited_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_ADMISSION_H_
