#include "client/server_clock.h"

#include <algorithm>

namespace roomcast::client {

void ServerClock::AtLeast(int64_t local_ms, int64_t server_ms) {
  const int64_t off = server_ms - local_ms;
  if (off > hi_) hi_ = kMax;  // contradicts what we knew: the clock jumped
  lo_ = std::max(lo_, off);
}

void ServerClock::AtMost(int64_t local_ms, int64_t server_ms) {
  const int64_t off = server_ms - local_ms;
  if (off < lo_) lo_ = kMin;
  hi_ = std::min(hi_, off);
}

void ServerClock::ObserveDate(int64_t date_ms, int64_t age_s, int64_t sent_local_ms,
                              int64_t recv_local_ms) {
  age_s = std::max<int64_t>(0, age_s);
  // Made during second `date_ms`, then kept in a cache for [age, age+1) s,
  // then on the wire for at most the round trip.
  const int64_t rtt = std::max<int64_t>(0, recv_local_ms - sent_local_ms);
  AtLeast(recv_local_ms, date_ms + age_s * 1000);
  AtMost(recv_local_ms, date_ms + 999 + (age_s + 1) * 1000 + rtt);
}

int64_t ServerClock::offset_ms() const {
  if (lo_ > hi_) return lo_;
  return std::clamp<int64_t>(0, lo_, hi_);
}

}  // namespace roomcast::client
