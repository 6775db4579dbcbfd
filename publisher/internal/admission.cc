#include "publisher/internal/admission.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/ids.h"
#include "base/status_macros.h"
#include "publisher/publisher.h"

namespace roomcast::publisher {
namespace {

constexpr char kRetryAfterPayload[] = "roomcast/retry-after-s";
constexpr char kBannedUntilPayload[] = "roomcast/banned-until-ms";

}  // namespace

namespace internal {

absl::Status RateLimitedError(int64_t wait_ms) {
  absl::Status s = absl::ResourceExhaustedError(
      absl::StrCat("rate limited; retry in ", wait_ms, " ms"));
  s.SetPayload(kRetryAfterPayload,
               absl::Cord(absl::StrCat((wait_ms + 999) / 1000)));
  return s;
}

absl::Status BannedError(int64_t until_ms) {
  absl::Status s = absl::PermissionDeniedError(
      absl::StrCat("a moderator banned this user from the room until ", until_ms, " (unix ms)"));
  s.SetPayload(kBannedUntilPayload, absl::Cord(absl::StrCat(until_ms)));
  return s;
}

}  // namespace internal

std::optional<int64_t> BannedUntilMs(const absl::Status& s) {
  auto p = s.GetPayload(kBannedUntilPayload);
  int64_t v = 0;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &v)) return std::nullopt;
  return v;
}

int64_t RetryAfterSeconds(const absl::Status& s) {
  if (!absl::IsResourceExhausted(s)) return 0;
  auto p = s.GetPayload(kRetryAfterPayload);
  int64_t v = 1;
  if (p.has_value() && absl::SimpleAtoi(std::string(*p), &v) && v >= 1)
    return v;
  return 1;
}

namespace internal {

Admission::Admission(IngestLimits limits, RateLimits rates,
                     const base::Clock* clock, const Sequencer* sequencer,
                     http::Metrics* metrics)
    : limits_(limits),
      rates_(rates),
      clock_(clock),
      sequencer_(sequencer),
      limiter_(rates),
      presence_limiter_({.user_per_s = rates.presence_per_s,
                         .user_burst = rates.presence_burst,
                         .room_per_s = 0}),
      state_limiter_({.user_per_s = 0,
                      .room_per_s = rates.state_per_s,
                      .room_burst = rates.state_burst}),
      rate_limited_(metrics->AddCounter("roomcast_publisher_rate_limited_total",
                                        "429 answers")) {}

absl::Status Admission::CheckRoom(const auth::Claims& who,
                                  const std::string& room) {
  if (!base::IsValidId(room)) {
    return absl::InvalidArgumentError("room ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!auth::AllowsRoom(who, room)) {
    return absl::PermissionDeniedError("the token is for another room");
  }
  return absl::OkStatus();
}

absl::Status Admission::NeedRole(const auth::Claims& who,
                                 std::initializer_list<v1::Role> roles) {
  if (std::find(roles.begin(), roles.end(), who.role) != roles.end()) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("role '", auth::RoleName(who.role), "' may not do this"));
}

bool Admission::RunsTheRoom(const auth::Claims& who) {
  return who.role == v1::ROLE_ANCHOR || who.role == v1::ROLE_MODERATOR ||
         who.role == v1::ROLE_SERVICE;
}

absl::Status Admission::CheckHintKey(const auth::Claims& who,
                                     const std::string& room,
                                     const std::string& user) {
  if (!base::IsValidId(room) || !base::IsValidId(user)) {
    return absl::InvalidArgumentError(
        "room and user ids are [A-Za-z0-9_-]{1,64}");
  }
  if (!auth::AllowsRoom(who, room) ||
      (who.sub != user && who.role != v1::ROLE_SERVICE)) {
    return absl::PermissionDeniedError("a hint key is only for its own user");
  }
  return absl::OkStatus();
}

absl::Status Admission::Admit(const auth::Claims& who, const std::string& room,
                              size_t n) {
  ROOMCAST_RETURN_IF_ERROR(CheckRoom(who, room));
  if (n == 0) return absl::InvalidArgumentError("no messages");
  if (n > limits_.max_batch) {
    return absl::OutOfRangeError(
        absl::StrCat("a batch holds at most ", limits_.max_batch, " messages"));
  }
  ROOMCAST_RETURN_IF_ERROR(Writable());
  if (who.role != v1::ROLE_AUDIENCE) return absl::OkStatus();
  // A batch no bucket can ever hold would get 429 forever: it is too large.
  const double burst = std::min(rates_.user_per_s > 0 ? rates_.user_burst : 1e18,
                                rates_.room_per_s > 0 ? rates_.room_burst : 1e18);
  if (static_cast<double>(n) > burst) {
    return absl::OutOfRangeError(absl::StrCat(
        "a batch of ", n, " is more than a sender may post at once (",
        static_cast<int64_t>(burst), "); split it"));
  }
  const int64_t wait_ms =
      limiter_.Acquire(room, who.sub, static_cast<double>(n), clock_->NowMs());
  if (wait_ms == 0) return absl::OkStatus();
  rate_limited_.Add();
  return RateLimitedError(wait_ms);
}

absl::Status Admission::AdmitStateSet(const std::string& room) {
  const int64_t wait_ms = state_limiter_.Acquire(room, "", 1, clock_->NowMs());
  if (wait_ms == 0) return absl::OkStatus();
  rate_limited_.Add();
  return RateLimitedError(wait_ms);
}

absl::Status Admission::AdmitPresence(const auth::Claims& who,
                                      const std::string& room) {
  ROOMCAST_RETURN_IF_ERROR(CheckRoom(who, room));
  const int64_t wait_ms = presence_limiter_.Acquire(room, who.sub, 1, clock_->NowMs());
  if (wait_ms == 0) return absl::OkStatus();
  rate_limited_.Add();
  return RateLimitedError(wait_ms);
}

}  // namespace internal
}  // namespace roomcast::publisher
