// The idempotency window of one room (DESIGN §6: an optional client_msg_id
// makes a retry idempotent): the reply each (sender, client_msg_id) got, for
// a window of receive time, so a retry within it gets the same seq, ts_ms and
// bucket instead of a second message. Actions and peer messages have
// separate id spaces, as they have separate seqs.
//
// Replies are remembered when a message is sequenced (a duplicate in the same
// log batch gets the reply too) and again when the log is replayed, so the
// window survives a restart.
//
//   if (const v1::PostResult* prev = w.Find(ReplyKind::kAction, who, id)) {
//     return *prev;   // a retry
//   }
//   w.Remember(ReplyKind::kAction, who, id, reply, m.ts_ms());
#ifndef ROOMCAST_PUBLISHER_INTERNAL_IDEMPOTENCY_H_
#define ROOMCAST_PUBLISHER_INTERNAL_IDEMPOTENCY_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "roomcast/v1/ingest.pb.h"

namespace roomcast::publisher::internal {

enum class ReplyKind { kAction, kPeer };

class IdempotencyWindow {
 public:
  explicit IdempotencyWindow(int64_t window_ms) : window_ms_(window_ms) {}

  // The reply remembered for (sender, id), or null.
  const v1::PostResult* Find(ReplyKind kind, absl::string_view sender,
                             absl::string_view id) const;
  // Remembers the first reply for (sender, id) at receive time `ts_ms`, and
  // forgets replies older than the window before it (receive times are
  // monotonic per room, so `ts_ms` is the room's now).
  void Remember(ReplyKind kind, absl::string_view sender, absl::string_view id,
                v1::PostResult reply, int64_t ts_ms);
  // Takes back the latest Remember of (sender, id): its message was never
  // made durable (the log write failed), so a retry must not get its reply.
  void Forget(ReplyKind kind, absl::string_view sender, absl::string_view id);

 private:
  const int64_t window_ms_;
  // (kind, sender, id) -> reply, evicted in ts order after the window. The
  // expiry queue exists only while it holds something: libstdc++'s
  // std::deque allocates ~540 bytes even when empty, a quarter of an idle
  // room's budget (DESIGN §9: 2 KB per room; bench/idle_rooms.sh).
  absl::flat_hash_map<std::string, v1::PostResult> replies_;
  std::unique_ptr<std::deque<std::pair<int64_t, std::string>>> expiry_;
};

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_IDEMPOTENCY_H_
