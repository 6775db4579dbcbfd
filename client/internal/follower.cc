// The follower's plumbing, join, manifest loop, follow modes and epochs.
#include "client/internal/follower.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/fetch.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::client::internal {

using segmenter::BucketIndex;

Follower::Follower(HttpLoop* loop, const ClientOptions& copts, FollowOptions opts,
                   Callbacks cb)
    : loop_(loop),
      copts_(copts),
      opts_(std::move(opts)),
      access_{.room = opts_.room, .edge_token = opts_.edge_token},
      cb_(std::move(cb)),
      backoffs_(copts.max_backoff) {
  e_.hint_key = opts_.hint_key;
  peer_enabled_ = !opts_.user.empty() && !opts_.token.empty() &&
                  (opts_.hint_key.has_value() || !copts_.publisher_url.empty());
}

Follower::~Follower() { CancelAll(); }

void Follower::Start() { Join(); }

FollowerStats Follower::stats() const {
  FollowerStats s = stats_;
  s.joined = e_.joined;
  s.ended = ended_;
  s.refused = refused_;
  s.mode = mode_;
  s.epoch = epoch_;
  s.clock_offset_ms = clock_.offset_ms();
  return s;
}

absl::Status Follower::SetEdgeToken(std::string token) {
  // The scope is the room's: a public room's follower never turns private.
  if (!access_.is_private()) {
    return absl::FailedPreconditionError("the follower reads a public room");
  }
  if (token.empty()) return absl::InvalidArgumentError("the edge token is empty");
  access_.edge_token = std::move(token);
  return absl::OkStatus();
}

// --- plumbing -------------------------------------------------------------

void Follower::Count(Cls cls) {
  switch (cls) {
    case Cls::kManifest: ++stats_.manifest_requests; break;
    case Cls::kBucket: ++stats_.bucket_requests; break;
    case Cls::kState: ++stats_.state_requests; break;
    case Cls::kSnapshot: ++stats_.snapshot_requests; break;
    case Cls::kPeer: ++stats_.peer_requests; break;
    case Cls::kKey: break;
  }
}

// `on_body` set: a 2xx body goes there as it arrives (the reply's stays
// empty); `timeout` 0: the client's request timeout.
HttpLoop::Id Follower::Get(Cls cls, const std::string& url, std::vector<std::string> headers,
                           Handler fn, std::function<void(absl::string_view)> on_body,
                           std::chrono::milliseconds timeout) {
  // The room's own objects go with the room's access; peer objects and the
  // hint key carry the user's JWT instead.
  const bool room_object = cls != Cls::kPeer && cls != Cls::kKey;
  if (room_object) {
    for (std::string& h : access_.Headers()) headers.push_back(std::move(h));
  }
  Count(cls);
  if (on_body) {
    on_body = [this, gen = gen_, fn = std::move(on_body)](absl::string_view bytes) {
      if (gen == gen_) fn(bytes);
    };
  }
  auto slot = std::make_shared<HttpLoop::Id>(0);
  *slot = loop_->Fetch(
      {.url = url,
       .headers = std::move(headers),
       .timeout = timeout.count() > 0 ? timeout : copts_.request_timeout,
       .on_body = std::move(on_body)},
      [this, slot, gen = gen_, room_object, fn = std::move(fn)](HttpReply r) {
        fetches_.erase(*slot);
        if (gen != gen_) return;
        if (std::optional<int64_t> date_ms = r.DateMs()) {
          clock_.ObserveDate(*date_ms, r.AgeSeconds(), r.sent_local_ms, r.recv_local_ms);
        }
        if (room_object && (r.status == 401 || r.status == 403)) {
          Refuse(r);  // every loop would hear the same answer
          return;
        }
        fn(std::move(r));
      });
  fetches_.insert(*slot);
  return *slot;
}

HttpLoop::Id Follower::Later(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto slot = std::make_shared<HttpLoop::Id>(0);
  *slot = loop_->After(delay, [this, slot, gen = gen_, fn = std::move(fn)] {
    timers_.erase(*slot);
    if (gen == gen_) fn();
  });
  timers_.insert(*slot);
  return *slot;
}

void Follower::CancelAll() {
  ++gen_;
  for (HttpLoop::Id id : fetches_) loop_->CancelFetch(id);
  for (HttpLoop::Id id : timers_) loop_->CancelTimer(id);
  fetches_.clear();
  timers_.clear();
  manifest_timer_ = 0;
  manifest_inflight_ = false;
}

std::string Follower::Url(const std::string& path) const {
  return absl::StrCat(copts_.base_url, path);
}

void Follower::Error(absl::Status st) {
  ++stats_.errors;
  if (cb_.on_error) cb_.on_error(st);
}

// The same token will be refused again: stop every loop and say why, once.
void Follower::Refuse(const HttpReply& r) {
  CancelAll();
  refused_ = true;
  ++stats_.errors;
  if (cb_.on_refused) {
    cb_.on_refused(RefusalOf(r, absl::StrCat(access_.is_private() ? "private room " : "room ",
                                             access_.room)));
  }
}

int64_t Follower::ServerNow() const { return clock_.Now(loop_->wall_clock().NowMs()); }

// --- join -----------------------------------------------------------------

void Follower::Join() {
  Get(Cls::kManifest, Url(access_.ManifestPath()), {},
      [this](HttpReply r) { OnJoinManifest(std::move(r)); });
}

std::optional<v1::Manifest> Follower::DecodeManifest(const HttpReply& r) {
  v1::Manifest m;
  if (!m.ParseFromString(r.body) || m.room() != opts_.room ||
      segmenter::ValidateBucketMs(m.config().bucket_ms()).ok() == false) {
    Error(absl::DataLossError(absl::StrCat("bad manifest for room ", opts_.room)));
    return std::nullopt;
  }
  // Made at server_time_ms, then kept in a cache for Age seconds.
  clock_.AtLeast(r.recv_local_ms, m.server_time_ms() + r.AgeSeconds() * 1000);
  return m;
}

void Follower::OnJoinManifest(HttpReply r) {
  std::optional<v1::Manifest> m;
  if (r.status == 200) m = DecodeManifest(r);
  if (!m || (expect_epoch_ && m->epoch() < *expect_epoch_)) {
    // No room yet, a cached manifest older than a segment we saw, or trouble.
    std::chrono::milliseconds wait = r.status == 404 || (m && expect_epoch_)
                                         ? RandomPause(300, 1000)
                                         : backoffs_.join.Next(r.RetryAfter());
    if (r.status != 404 && !m) {
      Error(absl::UnavailableError(absl::StrCat("manifest: HTTP ", r.status, " ", r.error)));
    }
    Later(wait, [this] { Join(); });
    return;
  }
  backoffs_.join.Reset();
  expect_epoch_.reset();
  JoinEpoch(*m);
  StartFollowing(*m);
}

// Where to start in the epoch `m` describes, and telling the viewer.
void Follower::JoinEpoch(const v1::Manifest& m) {
  epoch_ = m.epoch();
  e_.latest = m;
  manifest_seen_ms_ = loop_->wall_clock().NowMs();
  e_.d = m.config().bucket_ms();
  e_.join_last_seq = m.last_seq();
  e_.join_ms = ServerNow();
  if (prev_epoch_ && *prev_epoch_ != epoch_) {
    // The room was re-created: continue from where this follower was, so a
    // viewer who watched through the change misses nothing of the new epoch.
    ++stats_.rejoins;
    if (cb_.on_epoch_change) cb_.on_epoch_change(*prev_epoch_, epoch_);
    e_.join_ms = std::min(e_.join_ms, prev_cursor_ms_);
  }
  // Otherwise (first join, or a cursor that fell out of the room's life)
  // join at the live edge.
  prev_epoch_.reset();
  e_.join_ms = std::max(e_.join_ms, m.opened_ms());
  e_.cursor = BucketIndex(e_.join_ms, e_.d);
  e_.plan.clear();
  e_.plan_end = e_.cursor;
  e_.joined = true;
  mode_ = Desired(m);
  if (cb_.on_joined) {
    cb_.on_joined({.epoch = epoch_, .join_ms = e_.join_ms, .first_bucket = e_.cursor,
                   .bucket_ms = e_.d});
  }
}

// State, peer key, then actions and the manifest loop in the joined mode.
void Follower::StartFollowing(const v1::Manifest& m) {
  if (m.state_version() > 0) FetchSnapshot(m.state_version(), 0);
  if (peer_enabled_ && !e_.hint_key) FetchHintKey();
  if (m.status() == v1::ROOM_STATUS_ENDED) {
    // Joined after the end: nothing after the join will come.
    e_.ended_seen = true;
    CheckEnded();
    return;
  }
  Pump();
  ScheduleManifestStep(mode_ == FollowMode::kManifestHold ? std::chrono::milliseconds(0)
                                                          : ManifestInterval());
}

FollowMode Follower::Desired(const v1::Manifest& m) const {
  if (opts_.mode != FollowMode::kAuto) return opts_.mode;
  return m.follow().mode() == v1::FOLLOW_MODE_MANIFEST_HOLD ? FollowMode::kManifestHold
                                                             : FollowMode::kBucketHold;
}

// --- the manifest loop ------------------------------------------------------

void Follower::ManifestStep() {
  manifest_timer_ = 0;
  manifest_inflight_ = true;
  const bool hold = mode_ == FollowMode::kManifestHold;
  const uint64_t after = e_.latest.version();
  std::string path = access_.ManifestPath();
  if (hold) absl::StrAppend(&path, "?after=", after);
  Get(Cls::kManifest, Url(path), {}, [this, hold, after](HttpReply r) {
    OnManifestStep(std::move(r), hold, after);
  });
}

void Follower::ScheduleManifestStep(std::chrono::milliseconds wait) {
  if (manifest_timer_ != 0) {
    loop_->CancelTimer(manifest_timer_);
    timers_.erase(manifest_timer_);
    manifest_timer_ = 0;
  }
  if (wait.count() == 0) {
    ManifestStep();
    return;
  }
  manifest_due_ms_ = loop_->wall_clock().NowMs() + wait.count();
  manifest_timer_ = Later(wait, [this] { ManifestStep(); });
}

// Against a server that does not stream, or in manifest-hold mode, state
// and the epoch come from the manifest as before.
bool Follower::Streaming() const {
  return mode_ == FollowMode::kBucketHold && !e_.hold_only;
}

std::chrono::milliseconds Follower::ManifestInterval() const {
  // A segment parked for a manifest read (Behind) must not wait long.
  const bool waiting = e_.parked_segment.has_value();
  return Streaming() && !waiting ? copts_.stream_manifest_refresh : copts_.manifest_refresh;
}

void Follower::ManifestSoon() {
  if (!e_.joined || ended_ || manifest_inflight_ || mode_ == FollowMode::kManifestHold) return;
  const int64_t soon = loop_->wall_clock().NowMs() + copts_.manifest_refresh.count();
  if (manifest_timer_ != 0 && manifest_due_ms_ <= soon) return;
  ScheduleManifestStep(copts_.manifest_refresh);
}

bool Follower::Behind(int64_t k) const {
  if (!Streaming()) return false;  // the manifest is polled as before
  const int64_t lag = e_.d + e_.latest.review_delay_ms() + copts_.manifest_refresh.count();
  return segmenter::BucketEnd(k, e_.d) + lag < ServerNow();
}

bool Follower::ManifestFresh() const {
  return loop_->wall_clock().NowMs() - manifest_seen_ms_ <= 2 * copts_.manifest_refresh.count();
}

bool Follower::ReadyFor(int64_t k) const {
  return RedactionsCurrent() && (!Behind(k) || ManifestFresh());
}

void Follower::ManifestNow() {
  if (!e_.joined || ended_ || manifest_inflight_ || mode_ == FollowMode::kManifestHold) return;
  ScheduleManifestStep(std::chrono::milliseconds(0));
}

void Follower::OnManifestStep(HttpReply r, bool held, uint64_t after) {
  manifest_inflight_ = false;
  if (std::optional<std::chrono::milliseconds> wait = AfterManifest(r, held, after)) {
    ScheduleManifestStep(*wait);
  }
}

// Applies one answer of the manifest loop; returns the pause before the
// next request, or nullopt if this follower re-joined or finished.
std::optional<std::chrono::milliseconds> Follower::AfterManifest(const HttpReply& r,
                                                                 bool held,
                                                                 uint64_t after) {
  if (r.status == 404) return RandomPause(800, 1200);
  if (r.status != 200) {
    Error(absl::UnavailableError(absl::StrCat("manifest: HTTP ", r.status, " ", r.error)));
    return backoffs_.manifest.Next(r.RetryAfter());
  }
  std::optional<v1::Manifest> m = DecodeManifest(r);
  if (!m) return backoffs_.manifest.Next(r.RetryAfter());
  backoffs_.manifest.Reset();
  const bool newer = m->version() > after || m->epoch() != epoch_;
  const uint64_t gen = gen_;
  ApplyManifest(*m);
  if (gen != gen_ || ended_) return std::nullopt;
  if (mode_ != FollowMode::kManifestHold) return ManifestInterval();
  if (!held || newer) return std::chrono::milliseconds(0);
  // Nothing new: a cache may keep this answer for a second, so asking again
  // at once would spin on it (DESIGN §4, CDN traps).
  const bool cached = r.recv_local_ms - r.sent_local_ms < 1000;
  return cached ? RandomPause(800, 1200) : NotYetPause();
}

void Follower::ApplyManifest(const v1::Manifest& m) {
  // Epochs only grow: an older one is a cache's copy from before a change.
  if (m.epoch() < epoch_) return;
  if (m.epoch() > epoch_) {
    Rejoin(m.epoch());
    return;
  }
  if (m.version() < e_.latest.version()) return;  // an older cached copy
  e_.latest = m;
  manifest_seen_ms_ = loop_->wall_clock().NowMs();
  SyncState(m);
  if (m.status() == v1::ROOM_STATUS_ENDED) e_.ended_seen = true;
  // Plan with the mode the manifest was asked in, then switch: the plan
  // carries a manifest-hold follower to the live edge before bucket-hold.
  if (mode_ == FollowMode::kManifestHold || e_.ended_seen) PlanFromManifest(m);
  mode_ = Desired(m);
  ResumeParked();  // a segment may have waited for this read
  Pump();
  CheckEnded();
}

void Follower::Rejoin(std::optional<uint64_t> new_epoch) {
  if (e_.joined) {
    prev_epoch_ = epoch_;
    prev_cursor_ms_ = segmenter::BucketStart(e_.cursor, e_.d);
  }
  if (new_epoch) expect_epoch_ = std::max(expect_epoch_.value_or(0), *new_epoch);
  CancelAll();
  // Nothing of the old epoch holds; a hint key fetched for it would miss
  // every peer message of the new one, so Join fetches the new epoch's.
  e_ = EpochState{.hint_key = opts_.hint_key};
  Join();
}

void Follower::PlanFromManifest(const v1::Manifest& m) {
  std::vector<const v1::SegmentRef*> later;
  for (const v1::SegmentRef& r : m.recent_segments()) {
    // A bucket without actions is listed for its peer hint: read it only if
    // this follower takes peer messages.
    if (r.index() >= e_.cursor && (r.last_seq() > 0 || peer_enabled_)) later.push_back(&r);
  }
  std::sort(later.begin(), later.end(),
            [](auto* a, auto* b) { return a->index() < b->index(); });
  // The buckets in [cursor, newest] with actions are exactly the listed
  // ones if the list reaches back before the cursor, or if their seqs chain.
  const bool complete =
      m.recent_segments_size() > 0 && m.recent_segments(0).index() < e_.cursor;
  const bool chained = ChainsOn(later, m);
  const int64_t closed = BucketIndex(m.watermark_ms(), e_.d);  // first not closed
  e_.plan.clear();
  if (later.empty()) {
    if (chained) e_.plan_end = std::max({e_.plan_end, e_.cursor, closed});
    return;
  }
  const int64_t newest = later.back()->index();
  if (complete || chained) {
    for (const v1::SegmentRef* r : later) e_.plan.push_back(r->index());
    e_.plan_end = std::max(newest + 1, closed);
  } else {
    for (int64_t k = e_.cursor; k <= newest && e_.plan.size() < 100000; ++k) {
      e_.plan.push_back(k);
    }
    e_.plan_end = e_.plan.back() + 1;
  }
}

// Whether the seqs of `later` (in bucket order) continue from the last seq
// this follower knows of up to the manifest's last: then no unlisted bucket
// between them holds actions.
bool Follower::ChainsOn(const std::vector<const v1::SegmentRef*>& later,
                        const v1::Manifest& m) const {
  uint64_t want = e_.seq.next() ? *e_.seq.next() : e_.join_last_seq + 1;
  for (const v1::SegmentRef* r : later) {
    if (r->last_seq() == 0) continue;  // a peer hint only: no seqs to chain
    if (r->first_seq() != want) return false;
    want = r->last_seq() + 1;
  }
  return m.last_seq() + 1 == want;
}

void Follower::CheckEnded() {
  if (!e_.ended_seen || ended_ || !e_.joined) return;
  const uint64_t last = e_.latest.last_seq();
  const bool all_seen = last == 0 || (e_.seq.next() && *e_.seq.next() > last) ||
                        (e_.walker == Walker::kIdle && e_.plan.empty() &&
                         e_.cursor >= e_.plan_end);
  if (!all_seen) return;
  ended_ = true;
  CancelAll();
  if (cb_.on_ended) cb_.on_ended();
}

}  // namespace roomcast::client::internal
