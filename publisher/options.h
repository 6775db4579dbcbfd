// What a publisher is configured with: its identity and data, the limits it
// holds senders to, and its publication cadence. Binaries fill these from
// flags (publisher/main.cc); tests set what they exercise.
//
//   PublisherOptions o{.id = "pub-1", .data_dir = dir, .hint_master_secret =
//   s}; o.rates.user_per_s = 1;   // a slow-mode test
#ifndef ROOMCAST_PUBLISHER_OPTIONS_H_
#define ROOMCAST_PUBLISHER_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace roomcast::publisher {

// Sizes and shapes of what clients may send (413 above the sizes, 400 for
// the shapes).
struct IngestLimits {
  size_t max_text_bytes = 2000;    // comment text
  size_t max_custom_bytes = 8192;  // custom data, serialized
  size_t max_state_bytes = 65536;  // a state value, serialized
  size_t max_batch = 1000;         // messages per POST
  size_t max_client_msg_id = 128;
  // JSON levels in custom data and state values (an object or array is a
  // level). Far below what protobuf's JSON printer renders (64 Values
  // deep) and what the log and the origin parse (protobuf's recursion limit
  // of 100: a JSON level is 3 protobuf levels), so whatever is accepted can
  // be logged, replayed, published and rendered as .json.
  size_t max_json_depth = 16;
};

// Token buckets for audience senders (429 with Retry-After): per user, and
// per room shared by its audience. Anchors, moderators and the service are
// not limited.
struct RateLimits {
  double user_per_s = 20;  // 0: unlimited
  double user_burst = 40;
  double room_per_s = 5000;
  double room_burst = 10000;
  // Presence heartbeats per user and room (every role): a heartbeat every
  // few seconds is all the online count needs.
  double presence_per_s = 1;
  double presence_burst = 5;
  // State sets per room, every role: each makes a snapshot the origin keeps
  // for the room's retention.
  double state_per_s = 20;
  double state_burst = 40;
};

// When a room's published records are replaced by a checkpoint and deleted
// (DESIGN §14). A room with records no checkpoint covers, and nothing
// waiting for the origin, is checkpointed once those records outweigh its
// last checkpoint (so checkpoints never cost more than the log they
// replace); once it is quiet and they are an eighth of it; once it is idle;
// or once the log holds too many records after its oldest. A restart then
// replays at most about that much.
struct LogLifecycle {
  int64_t period_ms = 200;  // how often publication looks
  int64_t quiet_ms = 1000;  // no new record for this long
  int64_t idle_ms = 10000;  // ... or this long, whatever the size
  uint64_t min_bytes = 64 << 10;
  uint64_t max_lag_records = 100000;
  // One round's checkpoints, at most (the rooms' lock is held while they
  // are taken); the rest wait for the next round.
  size_t max_rooms_per_round = 1024;
  uint64_t max_bytes_per_round = 16 << 20;
  // A room's expired reply chunks are deleted at most this often.
  int64_t reply_expiry_ms = 60000;
};

struct PublisherOptions {
  std::string id = "publisher";  // [A-Za-z0-9_-]{1,64}
  std::string data_dir;          // RocksDB lives here
  // Per-room peer-hint secrets derive from this. Must stay the same across
  // restarts (re-published segments carry the hint).
  std::string hint_master_secret;
  int64_t rollup_ms = 60000;
  int64_t idempotency_window_ms = 10 * 60 * 1000;
  IngestLimits limits;
  RateLimits rates;
  int64_t presence_period_ms = 5000;
  int64_t presence_window_ms = 30000;
  int64_t tick_ms = 20;  // background publication cadence
  int64_t watermark_heartbeat_ms = 1000;
  // A room stalled by an object the origin refused offers it again this
  // often (an operator may have fixed the origin meanwhile).
  int64_t stall_retry_ms = 30'000;
  bool sync = true;  // WAL fsync before every ack
  // Live segments (DESIGN §10): push each open bucket's records to the
  // origin (POST /v1/live) as they become durable. Off: exactly the closed
  // segments' PUTs (bench comparisons, nginx-only setups).
  bool live = true;
  LogLifecycle lifecycle;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_OPTIONS_H_
