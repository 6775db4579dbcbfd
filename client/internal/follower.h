// One followed room: the join, both follow modes, state sync, peer delivery
// and exactly-once action delivery. Internal to the client; runs on the
// Client's HttpLoop thread.
#ifndef ROOMCAST_CLIENT_INTERNAL_FOLLOWER_H_
#define ROOMCAST_CLIENT_INTERNAL_FOLLOWER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/internal/http_loop.h"
#include "client/sequencer.h"
#include "client/server_clock.h"
#include "roomcast/v1/segment.pb.h"

namespace roomcast::client::internal {

class Follower {
 public:
  Follower(HttpLoop* loop, const ClientOptions& copts, FollowOptions opts,
           Callbacks cb);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  void Start();
  FollowerStats stats() const;

 private:
  enum class Cls { kManifest, kBucket, kState, kSnapshot, kPeer, kKey };
  using Handler = std::function<void(HttpReply)>;

  // I/O plumbing (follower.cc).
  void Get(Cls cls, const std::string& url, std::vector<std::string> headers,
           Handler fn);
  void Later(std::chrono::milliseconds delay, std::function<void()> fn);
  void CancelAll();
  std::string Url(const std::string& path) const;
  std::chrono::milliseconds Jitter(int64_t lo_ms, int64_t hi_ms);
  std::chrono::milliseconds NotYetPause() { return Jitter(100, 250); }
  std::chrono::milliseconds Backoff(int* attempts, const HttpReply* r = nullptr);
  void Error(absl::Status st);
  int64_t ServerNow() const;

  // Join, manifests, modes, epochs (follower.cc).
  void Join();
  void OnJoinManifest(HttpReply r);
  void ManifestStep();
  void OnManifestStep(HttpReply r, bool held, uint64_t after);
  std::optional<v1::Manifest> DecodeManifest(const HttpReply& r);
  void ApplyManifest(const v1::Manifest& m);
  void Rejoin(std::optional<uint64_t> new_epoch);
  FollowMode Desired(const v1::Manifest& m) const;
  void PlanFromManifest(const v1::Manifest& m);
  void CheckEnded();

  // Actions (follower_actions.cc).
  void Pump();
  void FetchBucket(int64_t k);
  void OnBucket(int64_t k, HttpReply r);
  void Process(int64_t k, v1::ActionSegment s);
  void Deliver(int64_t k, const v1::ActionSegment& s);
  void Recover(int64_t k, v1::ActionSegment s, Sequencer::Gap gap);
  void RecoverNext(std::shared_ptr<std::deque<int64_t>> todo, int attempts);
  void FinishRecovery();

  // State and peer (follower_state.cc).
  void SyncState(const v1::Manifest& m);
  void FetchSnapshot(uint64_t v, int attempt);
  void FetchComponent(const std::string& name, uint64_t v, int attempt);
  void ApplyComponent(const v1::StateComponent& c);
  void FetchHintKey(int attempt);
  void CheckPeerHint(int64_t k, const v1::PeerHint& hint);
  void PumpPeer();
  void OnPeer(int64_t k, HttpReply r);

  HttpLoop* loop_;
  const ClientOptions& copts_;
  FollowOptions opts_;
  Callbacks cb_;
  std::mt19937_64 rng_;

  uint64_t gen_ = 0;  // bumped by CancelAll; stale callbacks are ignored
  std::set<HttpLoop::Id> fetches_;
  std::set<HttpLoop::Id> timers_;
  ServerClock clock_;
  FollowerStats stats_;

  // Room and cursor.
  bool joined_ = false;
  bool ended_ = false;       // finished: on_ended was called
  bool ended_seen_ = false;  // the manifest says ended
  uint64_t epoch_ = 0;
  std::optional<uint64_t> expect_epoch_;  // a segment showed a newer epoch
  std::optional<uint64_t> prev_epoch_;  // set while re-joining
  int64_t prev_cursor_ms_ = 0;
  int64_t d_ = 0;
  int64_t join_ms_ = 0;
  uint64_t join_last_seq_ = 0;
  v1::Manifest latest_;
  FollowMode mode_ = FollowMode::kBucketHold;
  int join_attempts_ = 0;

  // Action walker: every bucket below cursor_ (since the join) is done.
  int64_t cursor_ = 0;
  bool walker_busy_ = false;
  int bucket_attempts_ = 0;
  std::deque<int64_t> plan_;  // buckets to read (manifest-hold)
  int64_t plan_end_ = 0;      // buckets below it not in plan_ are empty
  Sequencer seq_;
  bool recovering_ = false;
  std::optional<std::pair<int64_t, v1::ActionSegment>> held_segment_;

  // Manifest loop.
  bool manifest_busy_ = false;
  int manifest_attempts_ = 0;

  // State.
  std::map<std::string, v1::StateComponent> state_;
  std::map<std::string, uint64_t> state_inflight_;
  bool snapshot_inflight_ = false;

  // Peer.
  bool peer_enabled_ = false;
  std::optional<segmenter::HintKey> hint_key_;
  std::vector<std::pair<int64_t, v1::PeerHint>> unchecked_hints_;
  std::deque<int64_t> peer_queue_;
  bool peer_busy_ = false;
  uint64_t last_peer_seq_ = 0;
};

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_FOLLOWER_H_
