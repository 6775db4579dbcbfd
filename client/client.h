// The roomcast client (DESIGN §5): follows rooms through any HTTP cache and
// delivers every action exactly once and in seq order, the room's state by
// partial versions, and the viewer's own peer messages.
//
// One Client runs one event loop (libcurl multi) on the thread that calls
// Run; it can follow many rooms at once, and every callback runs on that
// thread. A follower joins at the live edge (manifest -> snapshot -> the
// current bucket), then follows by bucket-hold (GET the next bucket, held by
// the origin until it closes) or manifest-hold (manifest.pb?after=V), as the
// manifest's follow hint advises. A bucket is read as it arrives: from a
// server that streams open buckets (DESIGN §10) each action is delivered as
// soon as its record is in, the next bucket's stream is opened before the
// current one ends, and a stream cut short is asked again, skipping what
// was delivered. State changes and peer messages come inside the stream as
// notices (seq 0, never delivered as actions), so a streaming follower
// reads the manifest only at its join, every stream_manifest_refresh, and
// when a segment answer or falling behind calls for it; the other modes
// poll it as before. An epoch change re-joins cleanly; errors
// back off with jitter; a "not yet" is asked again after a short pause,
// never in a tight loop (DESIGN §4, CDN traps).
//
//   Client client({.base_url = "http://cdn.example:8000"});
//   client.Follow({.room = "lobby"},
//                 {.on_action = [](const v1::Message& m) { Show(m); }});
//   client.Run();  // until Stop()
//
// A private room (DESIGN §12) is followed the same way, with the viewer's
// edge token: Follow({.room = "vip", .edge_token = token}, ...).
#ifndef ROOMCAST_CLIENT_CLIENT_H_
#define ROOMCAST_CLIENT_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/message.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/peer_hint.h"

namespace roomcast::client {

namespace internal {
class HttpLoop;
class Follower;
}  // namespace internal

enum class FollowMode {
  kAuto,          // as the manifest's follow hint says
  kBucketHold,    // always GET the next bucket
  kManifestHold,  // always manifest.pb?after=V
};

struct ClientOptions {
  std::string base_url;  // origin or CDN edge, e.g. "http://127.0.0.1:8000"
  // The publisher, for peer hint keys; empty: peer delivery needs
  // FollowOptions::hint_key.
  std::string publisher_url;
  std::chrono::milliseconds request_timeout{15000};
  // A bucket is asked for this long before it ends (the origin holds up to
  // its --max-hold-ms, 3000 by default).
  std::chrono::milliseconds hold_lead{2000};
  // A server that streams open buckets (DESIGN §10) is asked for bucket k+1
  // this long before k ends, so its stream is open before its first record
  // (the origin holds it until k+1 starts).
  std::chrono::milliseconds live_lead{100};
  // In bucket-hold mode against a server that does not stream, the manifest
  // (state, epoch, hint) is re-read this often; it is cached for a second
  // anyway.
  std::chrono::milliseconds manifest_refresh{1000};
  // While streaming (DESIGN §10) state changes and peer messages arrive as
  // notices in the stream, so the manifest is re-read only this often, for
  // what a stream cannot tell (the room ended, an epoch change, a new follow
  // hint), and within manifest_refresh when a segment answer hints at one.
  std::chrono::milliseconds stream_manifest_refresh{30000};
  std::chrono::milliseconds max_backoff{5000};
};

struct FollowOptions {
  std::string room;
  // Non-empty: the room is private (DESIGN §12) and this is the viewer's
  // edge token, minted by the platform's backend. Every object of the room
  // is then read under /v1/private/{room}/ with the token as the cookie
  // rc_token; peer objects and the hint key keep the user's JWT below.
  std::string edge_token;
  FollowMode mode = FollowMode::kAuto;
  // Peer delivery: the viewer's id and token (JWT). The hint key is fetched
  // from the publisher with the token, once per epoch, unless given here (a
  // key belongs to one epoch of the room).
  std::string user;
  std::string token;
  std::optional<segmenter::HintKey> hint_key;
};

// What a follower learned when it joined (again, after an epoch change).
struct JoinInfo {
  uint64_t epoch = 0;
  int64_t join_ms = 0;       // server time; nothing stamped earlier is delivered
  int64_t first_bucket = 0;  // the first bucket followed
  int64_t bucket_ms = 0;
};

struct Callbacks {
  std::function<void(const JoinInfo&)> on_joined;
  // Every action after the join, exactly once, in seq order, except what
  // moderation took away (DESIGN §11): never an action the follower knows
  // is retracted (the room's `redactions` component is read before the
  // first delivery and whenever the manifest lists a newer one, and every
  // `retract` record counts), never a takedown's stub (`redacted` body).
  std::function<void(const v1::Message&)> on_action;
  // A moderator retracted actions this follower delivered (DESIGN §11):
  // hide each of record.retract().seqs(). The record names only delivered
  // seqs; one naming none (a retraction of what this viewer never got) is
  // not passed on at all. With this set, `retract` records reach it instead
  // of on_action (still once, in seq order); an action retracted before
  // publication is never delivered at all.
  std::function<void(const v1::Message& record)> on_retract;
  // What the big-room cap left out of a bucket, by type name.
  std::function<void(int64_t bucket, const std::map<std::string, uint64_t>&)> on_dropped;
  // A component's value, each time its partial version moves on (all of
  // them once at join): from the manifest's versions, or from a state
  // notice in a bucket (DESIGN §10), whichever comes first; never twice for
  // one version.
  std::function<void(const v1::StateComponent&)> on_state;
  // The viewer's peer messages, each once, fetched after the bucket that
  // holds them closed, when a peer notice's tag (or the Bloom hint) says
  // the bucket has one.
  std::function<void(const v1::Message&)> on_peer;
  // Seqs that could not be recovered (the origin lost them); never silent.
  std::function<void(uint64_t first, uint64_t last)> on_gap;
  // The room's history was reset (re-created): a clean re-join follows.
  std::function<void(uint64_t old_epoch, uint64_t new_epoch)> on_epoch_change;
  // Trouble being retried, or a permanent refusal of the viewer's JWT (no
  // peer messages then; the room is still followed).
  std::function<void(const absl::Status&)> on_error;
  // The room's objects were refused (HTTP 401 or 403: no edge token, or one
  // expired, forged or for another room): the follower has stopped, since
  // asking again with the same token cannot help. kUnauthenticated or
  // kPermissionDenied, with the server's reason. Renew tokens before they
  // expire (Client::SetEdgeToken); after this, Follow again.
  std::function<void(const absl::Status&)> on_refused;
  // The room ended and every action up to its end was delivered.
  std::function<void()> on_ended;
};

struct FollowerStats {
  uint64_t actions = 0;            // delivered
  uint64_t live_actions = 0;       // of them, read from a stream before its end
  uint64_t bucket_requests = 0;
  uint64_t manifest_requests = 0;
  uint64_t state_requests = 0;     // component objects
  uint64_t snapshot_requests = 0;
  uint64_t peer_requests = 0;
  uint64_t gaps = 0;               // reported to on_gap
  uint64_t errors = 0;
  uint64_t rejoins = 0;            // epoch changes
  bool joined = false;
  bool ended = false;
  bool refused = false;            // stopped: on_refused was called
  FollowMode mode = FollowMode::kAuto;  // the mode in use now
  uint64_t epoch = 0;
  int64_t clock_offset_ms = 0;
};

class Client {
 public:
  using FollowerId = uint64_t;

  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts following a room (joins on the next Run round). Call on the
  // loop's thread (or before Run).
  FollowerId Follow(FollowOptions options, Callbacks callbacks);
  void Unfollow(FollowerId id);
  // Gives a private room's follower a fresh edge token, carried by every
  // request from now on: a platform renews it before the old one expires,
  // and the follower goes on without a gap. kFailedPrecondition for a
  // public room's follower (its scope is fixed at Follow), kInvalidArgument
  // for an empty token, kNotFound for an unknown id.
  absl::Status SetEdgeToken(FollowerId id, std::string edge_token);

  // Runs the loop until Stop() or `until`.
  void Run(std::chrono::steady_clock::time_point until =
               std::chrono::steady_clock::time_point::max());
  // Runs until `done()` holds (checked after each round) or `until`;
  // returns done().
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::steady_clock::time_point until);
  // Makes Run return soon; safe from any thread and from a signal handler's
  // flag-watching thread.
  void Stop();

  FollowerStats Stats(FollowerId id) const;
  const ClientOptions& options() const { return options_; }

 private:
  ClientOptions options_;
  std::unique_ptr<internal::HttpLoop> loop_;
  std::map<FollowerId, std::unique_ptr<internal::Follower>> followers_;
  FollowerId next_id_ = 1;
  std::atomic<bool> stop_{false};
};

}  // namespace roomcast::client

#endif  // ROOMCAST_CLIENT_CLIENT_H_
