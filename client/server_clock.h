// The server's clock as seen from a client: bucket URLs are computed from
// server time, so a client with a wrong clock would ask too early (404s) or
// too late (latency).
//
// Every answer bounds the offset (server - local): the Date header (second
// resolution) and Age give a window, a manifest's server_time_ms and the end
// of a bucket that was served closed give lower bounds. The estimate is the
// offset in the intersection of all bounds that is closest to zero, so a
// client whose clock agrees with the server within the bounds uses its own
// clock unchanged; bounds that stop intersecting (a clock jump) start over.
//
//   ServerClock clock;
//   clock.ObserveDate(*reply.date_ms, reply.age_s, reply.sent_local_ms,
//                     reply.recv_local_ms);
//   int64_t k = BucketIndex(clock.Now(WallMs()), d);
#ifndef ROOMCAST_CLIENT_SERVER_CLOCK_H_
#define ROOMCAST_CLIENT_SERVER_CLOCK_H_

#include <cstdint>
#include <limits>

namespace roomcast::client {

class ServerClock {
 public:
  // The server's clock read at least `server_ms` when the local one read
  // `local_ms`.
  void AtLeast(int64_t local_ms, int64_t server_ms);
  // ... and at most `server_ms`.
  void AtMost(int64_t local_ms, int64_t server_ms);
  // An answer sent at `sent_local_ms`, received at `recv_local_ms`, with
  // Date `date_ms` and Age `age_s` (0 if none).
  void ObserveDate(int64_t date_ms, int64_t age_s, int64_t sent_local_ms,
                   int64_t recv_local_ms);

  // server - local, in ms.
  int64_t offset_ms() const;
  int64_t Now(int64_t local_ms) const { return local_ms + offset_ms(); }
  bool known() const { return lo_ != kMin || hi_ != kMax; }

 private:
  static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t lo_ = kMin;  // bounds of the offset
  int64_t hi_ = kMax;
};

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_SERVER_CLOCK_H_
