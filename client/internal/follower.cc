// The follower's plumbing, join, manifest loop, follow modes and epochs.
#include "client/internal/follower.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::client::internal {

using segmenter::BucketIndex;

Follower::Follower(HttpLoop* loop, const ClientOptions& copts, FollowOptions opts,
                   Callbacks cb)
    : loop_(loop),
      copts_(copts),
      opts_(std::move(opts)),
      cb_(std::move(cb)),
      rng_(std::random_device{}()) {
  hint_key_ = opts_.hint_key;
  peer_enabled_ = !opts_.user.empty() && !opts_.token.empty() &&
                  (hint_key_.has_value() || !copts_.publisher_url.empty());
}

Follower::~Follower() { CancelAll(); }

void Follower::Start() { Join(); }

FollowerStats Follower::stats() const {
  FollowerStats s = stats_;
  s.joined = joined_;
  s.ended = ended_;
  s.mode = mode_;
  s.epoch = epoch_;
  s.clock_offset_ms = clock_.offset_ms();
  return s;
}

// --- plumbing -------------------------------------------------------------

void Follower::Get(Cls cls, const std::string& url, std::vector<std::string> headers,
                   Handler fn) {
  switch (cls) {
    case Cls::kManifest: ++stats_.manifest_requests; break;
    case Cls::kBucket: ++stats_.bucket_requests; break;
    case Cls::kState: ++stats_.state_requests; break;
    case Cls::kSnapshot: ++stats_.snapshot_requests; break;
    case Cls::kPeer: ++stats_.peer_requests; break;
    case Cls::kKey: break;
  }
  auto slot = std::make_shared<HttpLoop::Id>(0);
  *slot = loop_->Fetch(
      {.url = url, .headers = std::move(headers), .timeout = copts_.request_timeout},
      [this, slot, gen = gen_, fn = std::move(fn)](HttpReply r) {
        fetches_.erase(*slot);
        if (gen != gen_) return;
        if (r.date_ms) {
          clock_.ObserveDate(*r.date_ms, r.age_s, r.sent_local_ms, r.recv_local_ms);
        }
        fn(std::move(r));
      });
  fetches_.insert(*slot);
}

void Follower::Later(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto slot = std::make_shared<HttpLoop::Id>(0);
  *slot = loop_->After(delay, [this, slot, gen = gen_, fn = std::move(fn)] {
    timers_.erase(*slot);
    if (gen == gen_) fn();
  });
  timers_.insert(*slot);
}

void Follower::CancelAll() {
  ++gen_;
  for (HttpLoop::Id id : fetches_) loop_->CancelFetch(id);
  for (HttpLoop::Id id : timers_) loop_->CancelTimer(id);
  fetches_.clear();
  timers_.clear();
}

std::string Follower::Url(const std::string& path) const {
  return absl::StrCat(copts_.base_url, path);
}

std::chrono::milliseconds Follower::Jitter(int64_t lo_ms, int64_t hi_ms) {
  std::uniform_int_distribution<int64_t> dist(lo_ms, std::max(lo_ms, hi_ms));
  return std::chrono::milliseconds(dist(rng_));
}

std::chrono::milliseconds Follower::Backoff(int* attempts, const HttpReply* r) {
  // Full jitter over an exponential ceiling, with a floor: never a busy loop.
  const int64_t ceiling = std::min<int64_t>(copts_.max_backoff.count(),
                                            200LL << std::min(*attempts, 10));
  ++*attempts;
  auto d = Jitter(100, ceiling);
  if (r != nullptr && r->retry_after_s) {
    d = std::max(d, std::chrono::milliseconds(
                        std::min<int64_t>(*r->retry_after_s * 1000, 60000)));
  }
  return d;
}

void Follower::Error(absl::Status st) {
  ++stats_.errors;
  if (cb_.on_error) cb_.on_error(st);
}

int64_t Follower::ServerNow() const { return clock_.Now(WallMs()); }

// --- join -----------------------------------------------------------------

void Follower::Join() {
  Get(Cls::kManifest, Url(segmenter::ManifestPath(opts_.room)), {},
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
  clock_.AtLeast(r.recv_local_ms, m.server_time_ms() + r.age_s * 1000);
  return m;
}

void Follower::OnJoinManifest(HttpReply r) {
  std::optional<v1::Manifest> m;
  if (r.status == 200) m = DecodeManifest(r);
  if (!m || (expect_epoch_ && m->epoch() < *expect_epoch_)) {
    // No room yet, a cached manifest older than a segment we saw, or trouble.
    std::chrono::milliseconds wait =
        r.status == 404 || (m && expect_epoch_) ? Jitter(300, 1000) : Backoff(&join_attempts_, &r);
    if (r.status != 404 && !m) {
      Error(absl::UnavailableError(absl::StrCat("manifest: HTTP ", r.status, " ", r.error)));
    }
    Later(wait, [this] { Join(); });
    return;
  }
  join_attempts_ = 0;
  expect_epoch_.reset();
  latest_ = *m;
  epoch_ = m->epoch();
  d_ = m->config().bucket_ms();
  join_last_seq_ = m->last_seq();
  join_ms_ = ServerNow();
  if (prev_epoch_ && *prev_epoch_ != epoch_) {
    // The room was re-created: continue from where this follower was, so a
    // viewer who watched through the change misses nothing of the new epoch.
    ++stats_.rejoins;
    if (cb_.on_epoch_change) cb_.on_epoch_change(*prev_epoch_, epoch_);
    join_ms_ = std::min(join_ms_, prev_cursor_ms_);
  }
  // Otherwise (first join, or a cursor that fell out of the room's life)
  // join at the live edge.
  prev_epoch_.reset();
  join_ms_ = std::max(join_ms_, m->opened_ms());
  cursor_ = BucketIndex(join_ms_, d_);
  plan_.clear();
  plan_end_ = cursor_;
  joined_ = true;
  mode_ = Desired(*m);
  if (cb_.on_joined) {
    cb_.on_joined({.epoch = epoch_, .join_ms = join_ms_, .first_bucket = cursor_,
                   .bucket_ms = d_});
  }
  if (m->state_version() > 0) {
    FetchSnapshot(m->state_version(), 0);
  }
  if (peer_enabled_ && !hint_key_) FetchHintKey(0);
  if (m->status() == v1::ROOM_STATUS_ENDED) {
    // Joined after the end: nothing after the join will come.
    ended_seen_ = true;
    CheckEnded();
    return;
  }
  Pump();
  if (mode_ == FollowMode::kManifestHold) {
    ManifestStep();
  } else {
    manifest_busy_ = true;
    Later(copts_.manifest_refresh, [this] { ManifestStep(); });
  }
}

FollowMode Follower::Desired(const v1::Manifest& m) const {
  if (opts_.mode != FollowMode::kAuto) return opts_.mode;
  return m.follow().mode() == v1::FOLLOW_MODE_MANIFEST_HOLD ? FollowMode::kManifestHold
                                                             : FollowMode::kBucketHold;
}

// --- the manifest loop ------------------------------------------------------

void Follower::ManifestStep() {
  manifest_busy_ = true;
  const bool hold = mode_ == FollowMode::kManifestHold;
  const uint64_t after = latest_.version();
  std::string path = segmenter::ManifestPath(opts_.room);
  if (hold) absl::StrAppend(&path, "?after=", after);
  Get(Cls::kManifest, Url(path), {}, [this, hold, after](HttpReply r) {
    OnManifestStep(std::move(r), hold, after);
  });
}

void Follower::OnManifestStep(HttpReply r, bool held, uint64_t after) {
  manifest_busy_ = false;
  std::chrono::milliseconds wait{0};
  bool newer = false;
  if (r.status == 200) {
    std::optional<v1::Manifest> m = DecodeManifest(r);
    if (!m) {
      wait = Backoff(&manifest_attempts_, &r);
    } else {
      manifest_attempts_ = 0;
      newer = m->version() > after || m->epoch() != epoch_;
      const uint64_t gen = gen_;
      ApplyManifest(*m);
      if (gen != gen_ || ended_) return;  // re-joined or finished
      if (mode_ != FollowMode::kManifestHold) {
        wait = copts_.manifest_refresh;
      } else if (held && !newer) {
        // Nothing new: a cache may keep this answer for a second, so asking
        // again at once would spin on it (DESIGN §4, CDN traps).
        const bool cached = r.recv_local_ms - r.sent_local_ms < 1000;
        wait = cached ? Jitter(800, 1200) : NotYetPause();
      }
    }
  } else if (r.status == 404) {
    wait = Jitter(800, 1200);
  } else {
    Error(absl::UnavailableError(absl::StrCat("manifest: HTTP ", r.status, " ", r.error)));
    wait = Backoff(&manifest_attempts_, &r);
  }
  manifest_busy_ = true;
  if (wait.count() == 0) {
    ManifestStep();
  } else {
    Later(wait, [this] { ManifestStep(); });
  }
}

void Follower::ApplyManifest(const v1::Manifest& m) {
  // Epochs only grow: an older one is a cache's copy from before a change.
  if (m.epoch() < epoch_) return;
  if (m.epoch() > epoch_) {
    Rejoin(m.epoch());
    return;
  }
  if (m.version() < latest_.version()) return;  // an older cached copy
  latest_ = m;
  SyncState(m);
  if (m.status() == v1::ROOM_STATUS_ENDED) ended_seen_ = true;
  // Plan with the mode the manifest was asked in, then switch: the plan
  // carries a manifest-hold follower to the live edge before bucket-hold.
  if (mode_ == FollowMode::kManifestHold || ended_seen_) PlanFromManifest(m);
  const FollowMode want = Desired(m);
  if (want != mode_) mode_ = want;
  Pump();
  CheckEnded();
}

void Follower::Rejoin(std::optional<uint64_t> new_epoch) {
  if (joined_) {
    prev_epoch_ = epoch_;
    prev_cursor_ms_ = segmenter::BucketStart(cursor_, d_);
  }
  if (new_epoch) expect_epoch_ = std::max(expect_epoch_.value_or(0), *new_epoch);
  CancelAll();
  joined_ = false;
  walker_busy_ = false;
  manifest_busy_ = false;
  recovering_ = false;
  held_segment_.reset();
  plan_.clear();
  seq_.Reset();
  state_.clear();
  state_inflight_.clear();
  snapshot_inflight_ = false;
  peer_queue_.clear();
  peer_busy_ = false;
  // A hint key belongs to one epoch (the publisher derives it from the
  // room's secret of that epoch): one fetched for the old epoch would miss
  // every peer message of the new one. Join fetches the new epoch's.
  hint_key_ = opts_.hint_key;
  unchecked_hints_.clear();
  last_peer_seq_ = 0;
  ended_seen_ = false;
  Join();
}

void Follower::PlanFromManifest(const v1::Manifest& m) {
  std::vector<const v1::SegmentRef*> later;
  for (const v1::SegmentRef& r : m.recent_segments()) {
    // A bucket without actions is listed for its peer hint: read it only if
    // this follower takes peer messages.
    if (r.index() >= cursor_ && (r.last_seq() > 0 || peer_enabled_)) later.push_back(&r);
  }
  std::sort(later.begin(), later.end(),
            [](auto* a, auto* b) { return a->index() < b->index(); });
  // The buckets in [cursor_, newest] with actions are exactly the listed
  // ones if the list reaches back before cursor_, or if their seqs chain on
  // from the last seq this follower knows of.
  const bool complete =
      m.recent_segments_size() > 0 && m.recent_segments(0).index() < cursor_;
  uint64_t want = seq_.next() ? *seq_.next() : join_last_seq_ + 1;
  bool chained = true;
  for (const v1::SegmentRef* r : later) {
    if (r->last_seq() == 0) continue;  // a peer hint only: no seqs to chain
    chained = chained && r->first_seq() == want;
    want = r->last_seq() + 1;
  }
  chained = chained && m.last_seq() + 1 == want;
  const int64_t closed = BucketIndex(m.watermark_ms(), d_);  // first not closed
  plan_.clear();
  if (later.empty()) {
    if (chained) plan_end_ = std::max({plan_end_, cursor_, closed});
    return;
  }
  const int64_t newest = later.back()->index();
  if (complete || chained) {
    for (const v1::SegmentRef* r : later) plan_.push_back(r->index());
    plan_end_ = std::max(newest + 1, closed);
  } else {
    for (int64_t k = cursor_; k <= newest && plan_.size() < 100000; ++k) plan_.push_back(k);
    plan_end_ = plan_.back() + 1;
  }
}

void Follower::CheckEnded() {
  if (!ended_seen_ || ended_ || !joined_) return;
  const uint64_t last = latest_.last_seq();
  const bool all_seen = last == 0 || (seq_.next() && *seq_.next() > last) ||
                        (!walker_busy_ && !recovering_ && plan_.empty() &&
                         cursor_ >= plan_end_);
  if (!all_seen) return;
  ended_ = true;
  CancelAll();
  if (cb_.on_ended) cb_.on_ended();
}

}  // namespace roomcast::client::internal
