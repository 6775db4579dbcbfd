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
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/internal/http_loop.h"
#include "client/internal/retry.h"
#include "client/internal/segment_stream.h"
#include "client/room_access.h"
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
  absl::Status SetEdgeToken(std::string token);

 private:
  enum class Cls { kManifest, kBucket, kState, kSnapshot, kPeer, kKey };
  using Handler = std::function<void(HttpReply)>;

  // Where the action walker is.
  enum class Walker {
    kIdle,        // nothing in flight: Pump may start the next bucket
    kFetching,    // waiting for a bucket to be due, or for its answer
    kRecovering,  // a segment is held while the buckets holding the seqs
                  // missing before it are fetched
  };

  // One bucket read as a stream (DESIGN §10): the walker's bucket, and the
  // next one, opened before the walker's ends. Records are taken as they
  // arrive, in seq order across both; the complete segment then goes the
  // way a closed one always went (the sequencer skips what was taken).
  struct LiveBucket {
    std::unique_ptr<SegmentStream> stream;  // the read in progress, if any
    HttpLoop::Id fetch = 0;                 // its request, while in flight
    // A record of this bucket was taken: its later seqs follow on, whatever
    // lies between them (drops, retractions) is this bucket's own.
    bool anchored = false;
    // Records that may follow seqs not yet accounted for (a gap, or the
    // previous bucket's end still streaming), in order, untaken.
    std::deque<v1::Message> held;
    // Complete before the walker reached it, and when it arrived.
    std::optional<v1::ActionSegment> done;
    int64_t done_local_ms = 0;
  };

  // What a closed bucket says of peer messages (DESIGN §10, §5): the tags
  // of its peer notices, which tell for sure when it has any and the cap
  // dropped no notice, and else its Bloom hint (a publisher from before
  // notices, a notice the cap left out).
  struct PeerSigns {
    int64_t bucket = 0;
    std::vector<std::string> tags;
    bool tags_complete = false;
    std::optional<v1::PeerHint> hint;
  };

  // What this follower holds of one epoch of the room (one life of its
  // history): learned at the join, and reset in one assignment by Rejoin,
  // since none of it holds for another epoch.
  struct EpochState {
    bool joined = false;
    bool ended_seen = false;  // the manifest says ended
    int64_t d = 0;            // the room's bucket duration
    int64_t join_ms = 0;      // server time; nothing stamped earlier is ours
    uint64_t join_last_seq = 0;
    v1::Manifest latest;

    // Action walker: every bucket below `cursor` (since the join) is done.
    Walker walker = Walker::kIdle;
    int64_t cursor = 0;
    std::deque<int64_t> plan;  // buckets to read (manifest-hold)
    int64_t walker_bucket = 0;  // the bucket the walker is fetching
    std::map<int64_t, LiveBucket> live;
    // A bucket asked for before it ended was "not yet": the server holds
    // closed buckets only (no streams), so buckets are asked for as before.
    bool hold_only = false;
    int64_t plan_end = 0;      // buckets below it not in `plan` are empty
    Sequencer seq;
    std::optional<std::pair<int64_t, v1::ActionSegment>> held_segment;
    // A served segment waiting for the `redactions` the manifest lists
    // (DESIGN §11): nothing is delivered before the follower knows them.
    std::optional<std::pair<int64_t, v1::ActionSegment>> parked_segment;

    // Moderation (DESIGN §11). Retracted seqs, from the `redactions`
    // component and the `retract` records seen: never delivered.
    std::set<uint64_t> redacted;
    // The `redactions` version given up on (its fetch kept failing), so the
    // walker goes on without it rather than stop for good.
    uint64_t redactions_given_up = 0;
    // The seqs delivered, as [first, last] runs: a retraction is passed on
    // only for these (the latest kMaxDeliveredRuns runs).
    std::map<uint64_t, uint64_t> delivered;

    // State.
    std::map<std::string, v1::StateComponent> state;
    std::map<std::string, uint64_t> state_inflight;
    bool snapshot_inflight = false;

    // Peer. A hint key belongs to one epoch: the publisher derives it from
    // the room's secret of that epoch.
    std::optional<segmenter::HintKey> hint_key;
    std::vector<PeerSigns> unchecked_hints;  // closed before the key came
    std::deque<int64_t> peer_queue;
    bool peer_busy = false;
    uint64_t last_peer_seq = 0;
  };

  // One per retry loop; each is reset when its request succeeds.
  struct Backoffs {
    explicit Backoffs(std::chrono::milliseconds cap)
        : join(cap), manifest(cap), bucket(cap), snapshot(cap), state(cap),
          key(cap), peer(cap) {}
    Backoff join, manifest, bucket, snapshot, state, key, peer;
  };

  // I/O plumbing (follower.cc).
  void Count(Cls cls);
  HttpLoop::Id Get(Cls cls, const std::string& url, std::vector<std::string> headers,
                   Handler fn, std::function<void(absl::string_view)> on_body = nullptr,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  HttpLoop::Id Later(std::chrono::milliseconds delay, std::function<void()> fn);
  void CancelAll();
  std::string Url(const std::string& path) const;
  void Error(absl::Status st);
  void Refuse(const HttpReply& r);
  int64_t ServerNow() const;

  // Join, manifests, modes, epochs (follower.cc).
  void Join();
  void OnJoinManifest(HttpReply r);
  void JoinEpoch(const v1::Manifest& m);
  void StartFollowing(const v1::Manifest& m);
  void ManifestStep();
  void ScheduleManifestStep(std::chrono::milliseconds wait);
  // Whether the walker reads open buckets as streams: then state and peer
  // messages come as notices, and the manifest is read only slowly.
  bool Streaming() const;
  std::chrono::milliseconds ManifestInterval() const;
  // A segment answer hinted that something changed that only the manifest
  // tells (or streaming stopped): read it within manifest_refresh.
  void ManifestSoon();
  // A streaming follower that fell behind (its loop stopped, a slow link)
  // reads closed buckets: the stream cannot tell it of what was retracted
  // since, so it delivers nothing of such a bucket before a manifest read
  // from the last couple of seconds (DESIGN §11: the redactions it lists).
  bool Behind(int64_t k) const;
  bool ManifestFresh() const;
  bool ReadyFor(int64_t k) const;
  void ManifestNow();
  void OnManifestStep(HttpReply r, bool held, uint64_t after);
  std::optional<std::chrono::milliseconds> AfterManifest(const HttpReply& r,
                                                         bool held,
                                                         uint64_t after);
  std::optional<v1::Manifest> DecodeManifest(const HttpReply& r);
  void ApplyManifest(const v1::Manifest& m);
  void Rejoin(std::optional<uint64_t> new_epoch);
  FollowMode Desired(const v1::Manifest& m) const;
  void PlanFromManifest(const v1::Manifest& m);
  bool ChainsOn(const std::vector<const v1::SegmentRef*>& later,
                const v1::Manifest& m) const;
  void CheckEnded();

  // Actions (follower_actions.cc).
  void Pump();
  void OnSegment(int64_t k, int64_t recv_local_ms, v1::ActionSegment s);
  void Process(int64_t k, v1::ActionSegment s);
  void Deliver(int64_t k, const v1::ActionSegment& s);
  void DeliverOne(const v1::Message& m);
  void DeliverReportingGap(int64_t k, const v1::ActionSegment& s);
  void Recover(int64_t k, v1::ActionSegment s, Sequencer::Gap gap);
  void RecoverNext(std::shared_ptr<std::deque<int64_t>> todo, int attempts);
  void FinishRecovery();
  // Streamed buckets (follower_live.cc).
  int64_t OpenAt(int64_t k) const;
  void FetchBucket(int64_t k);
  void OpenStream(int64_t k);
  void SchedulePrefetch(int64_t k);
  void RetryStream(int64_t k, std::chrono::milliseconds wait);
  void EndStream(LiveBucket& b);
  void DropLiveBefore(int64_t k);
  void OnStreamBytes(int64_t k, absl::string_view bytes);
  void OnStreamEnd(int64_t k, HttpReply r);
  void OnStreamSegment(int64_t k, const HttpReply& r);
  void OnStreamRefused(int64_t k, const HttpReply& r);
  void OnRecord(int64_t k, const v1::Message& m);
  bool Takeable(int64_t k, const LiveBucket& b, uint64_t seq) const;
  void TakeRecord(LiveBucket& b, const v1::Message& m);
  void ReleaseHeld();
  // Moderation (follower_moderation.cc).
  bool RedactionsCurrent() const;
  void ResumeParked();
  void ApplyRedactions(const v1::StateComponent& c);
  // Whether `m` is to be delivered: not a stub, not retracted, and for a
  // `retract` record one naming a delivered seq (then `*shown` is the
  // record with only those).
  bool Deliverable(const v1::Message& m, v1::Message* shown);
  void NoteDelivered(uint64_t seq);
  bool WasDelivered(uint64_t seq) const;

  // State and peer (follower_state.cc).
  void SyncState(const v1::Manifest& m);
  void FetchSnapshot(uint64_t v, int attempt);
  void FetchComponent(const std::string& name, uint64_t v, int attempt);
  void ApplyComponent(const v1::StateComponent& c);
  void FetchHintKey();
  void OnHintKey(HttpReply r);
  void OnNotice(const v1::Message& m);
  void ApplyNotices(const v1::ActionSegment& s);
  static PeerSigns PeerSignsOf(int64_t k, const v1::ActionSegment& s);
  void CheckPeer(PeerSigns signs);
  void PumpPeer();
  void OnPeer(int64_t k, HttpReply r);

  HttpLoop* loop_;
  const ClientOptions& copts_;
  FollowOptions opts_;
  RoomAccess access_;  // opts_.room under its prefix, with its edge token
  Callbacks cb_;

  uint64_t gen_ = 0;  // bumped by CancelAll; stale callbacks are ignored
  std::set<HttpLoop::Id> fetches_;
  std::set<HttpLoop::Id> timers_;
  ServerClock clock_;
  FollowerStats stats_;
  Backoffs backoffs_;

  EpochState e_;
  // Across epochs: the epoch and mode of the last join, and how a re-join
  // continues.
  uint64_t epoch_ = 0;
  FollowMode mode_ = FollowMode::kBucketHold;
  bool ended_ = false;  // finished: on_ended was called
  bool refused_ = false;  // stopped: on_refused was called
  std::optional<uint64_t> expect_epoch_;  // a segment showed a newer epoch
  std::optional<uint64_t> prev_epoch_;    // set while re-joining
  int64_t prev_cursor_ms_ = 0;
  // The manifest loop's pending step (a timer, due at manifest_due_ms_ on
  // the loop's wall clock), or a request in flight.
  HttpLoop::Id manifest_timer_ = 0;
  int64_t manifest_due_ms_ = 0;
  bool manifest_inflight_ = false;
  int64_t manifest_seen_ms_ = 0;  // the last one applied, loop's wall clock
  // Off for good once the publisher or origin refused the viewer's token.
  bool peer_enabled_ = false;
};

}  // namespace roomcast::client::internal

#endif  // ROOMCAST_CLIENT_INTERNAL_FOLLOWER_H_
