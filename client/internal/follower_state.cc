// The follower's state sync (by partial versions) and peer delivery.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/internal/follower.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/naming.h"

namespace roomcast::client::internal {

namespace {
constexpr int kMaxNotYet = 20;  // "not yet" answers before giving up on one object
constexpr size_t kMaxUncheckedHints = 4096;
}  // namespace

// Fetches only the components whose partial version moved on.
void Follower::SyncState(const v1::Manifest& m) {
  if (snapshot_inflight_) return;  // resyncs when the snapshot lands
  for (const v1::ComponentVersion& c : m.components()) {
    auto have = state_.find(c.name());
    if (have != state_.end() && have->second.version() >= c.version()) continue;
    auto flying = state_inflight_.find(c.name());
    if (flying != state_inflight_.end() && flying->second >= c.version()) continue;
    FetchComponent(c.name(), c.version(), 0);
  }
}

void Follower::FetchSnapshot(uint64_t v, int attempt) {
  snapshot_inflight_ = true;
  Get(Cls::kSnapshot,
      Url(segmenter::SnapshotPath(opts_.room, static_cast<int64_t>(v))), {},
      [this, v, attempt](HttpReply r) {
        v1::StateSnapshot snap;
        if (r.status == 200 && snap.ParseFromString(r.body)) {
          snapshot_inflight_ = false;
          if (snap.epoch() == epoch_) {
            for (const v1::StateComponent& c : snap.components()) ApplyComponent(c);
          }
          SyncState(latest_);
          return;
        }
        if (r.status == 404 && attempt >= 3) {
          // No snapshot at this version: fetch the components one by one.
          snapshot_inflight_ = false;
          SyncState(latest_);
          return;
        }
        int attempts = attempt;
        auto wait = r.status == 404 ? NotYetPause() : Backoff(&attempts, &r);
        if (r.status != 404) {
          Error(absl::UnavailableError(absl::StrCat("snapshot: HTTP ", r.status, " ", r.error)));
        }
        Later(wait, [this, v, attempt] { FetchSnapshot(v, attempt + 1); });
      });
}

void Follower::FetchComponent(const std::string& name, uint64_t v, int attempt) {
  uint64_t& flying = state_inflight_[name];
  flying = std::max(flying, v);
  Get(Cls::kState,
      Url(segmenter::StatePath(opts_.room, name, static_cast<int64_t>(v))), {},
      [this, name, v, attempt](HttpReply r) {
        v1::StateComponent c;
        if (r.status == 200 && c.ParseFromString(r.body)) {
          if (auto it = state_inflight_.find(name);
              it != state_inflight_.end() && it->second <= v) {
            state_inflight_.erase(it);
          }
          if (c.epoch() == epoch_ && c.name() == name) ApplyComponent(c);
          return;
        }
        if (attempt >= kMaxNotYet) {
          state_inflight_.erase(name);
          Error(absl::NotFoundError(absl::StrCat("state ", name, "/", v, ": HTTP ", r.status)));
          return;
        }
        int attempts = attempt;
        auto wait = r.status == 404 ? NotYetPause() : Backoff(&attempts, &r);
        Later(wait, [this, name, v, attempt] { FetchComponent(name, v, attempt + 1); });
      });
}

void Follower::ApplyComponent(const v1::StateComponent& c) {
  auto [it, fresh] = state_.try_emplace(c.name(), c);
  if (!fresh) {
    if (it->second.version() >= c.version()) return;
    it->second = c;
  }
  if (cb_.on_state) cb_.on_state(c);
}

// --- peer -------------------------------------------------------------------

void Follower::FetchHintKey(int attempt) {
  const std::string url = absl::StrCat(
      copts_.publisher_url, segmenter::PeerKeyPath(opts_.room, opts_.user));
  Get(Cls::kKey, url,
      {absl::StrCat("Authorization: Bearer ", opts_.token), "Accept: application/x-protobuf"},
      [this, attempt](HttpReply r) {
        v1::HintKey key;
        segmenter::HintKey k;
        if (r.status == 200 && key.ParseFromString(r.body) &&
            segmenter::HintKeyFromBytes(key.key(), &k)) {
          hint_key_ = k;
          std::vector<std::pair<int64_t, v1::PeerHint>> pending;
          pending.swap(unchecked_hints_);
          for (auto& [bucket, hint] : pending) CheckPeerHint(bucket, hint);
          return;
        }
        if (r.status == 401 || r.status == 403) {
          peer_enabled_ = false;
          Error(absl::PermissionDeniedError(
              absl::StrCat("hint key refused (HTTP ", r.status, "): no peer messages")));
          return;
        }
        Error(absl::UnavailableError(absl::StrCat("hint key: HTTP ", r.status, " ", r.error)));
        int attempts = attempt;
        Later(Backoff(&attempts, &r), [this, attempt] { FetchHintKey(attempt + 1); });
      });
}

void Follower::CheckPeerHint(int64_t k, const v1::PeerHint& hint) {
  if (!hint_key_) {
    if (unchecked_hints_.size() < kMaxUncheckedHints) unchecked_hints_.emplace_back(k, hint);
    return;
  }
  if (!segmenter::PeerHintMayContain(hint, *hint_key_, k)) return;
  peer_queue_.push_back(k);
  PumpPeer();
}

// One peer object at a time, in bucket order, so peer messages arrive in order.
void Follower::PumpPeer() {
  if (peer_busy_ || peer_queue_.empty() || !peer_enabled_) return;
  peer_busy_ = true;
  const int64_t k = peer_queue_.front();
  Get(Cls::kPeer, Url(segmenter::PeerPath(opts_.room, opts_.user, d_, k)),
      {absl::StrCat("Authorization: Bearer ", opts_.token)},
      [this, k](HttpReply r) { OnPeer(k, std::move(r)); });
}

void Follower::OnPeer(int64_t k, HttpReply r) {
  peer_busy_ = false;
  v1::PeerBatch b;
  if (r.status == 200 && b.ParseFromString(r.body)) {
    peer_queue_.pop_front();
    if (b.epoch() == epoch_) {
      for (const v1::Message& m : b.messages()) {
        if (m.seq() <= last_peer_seq_) continue;
        last_peer_seq_ = m.seq();
        if (cb_.on_peer) cb_.on_peer(m);
      }
    }
    PumpPeer();
    return;
  }
  if (r.status == 401 || r.status == 403) {
    peer_enabled_ = false;
    peer_queue_.clear();
    Error(absl::PermissionDeniedError(
        absl::StrCat("peer object refused (HTTP ", r.status, "): no peer messages")));
    return;
  }
  int attempts = 0;
  auto wait = r.status == 404 ? NotYetPause() : Backoff(&attempts, &r);
  peer_busy_ = true;
  Later(wait, [this] {
    peer_busy_ = false;
    PumpPeer();
  });
}

}  // namespace roomcast::client::internal
