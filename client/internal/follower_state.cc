// The follower's state sync (by partial versions) and peer delivery.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/internal/follower.h"
#include "client/redactions.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/messages.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"

namespace roomcast::client::internal {

namespace {
constexpr int kMaxNotYet = 20;  // "not yet" answers before giving up on one object
constexpr size_t kMaxUncheckedHints = 4096;
// Peer tags kept of one bucket closed before the hint key came; past it the
// Bloom hint decides.
constexpr size_t kMaxKeptTags = 256;
}  // namespace

// Fetches only the components whose partial version moved on.
void Follower::SyncState(const v1::Manifest& m) {
  if (e_.snapshot_inflight) return;  // resyncs when the snapshot lands
  for (const v1::ComponentVersion& c : m.components()) {
    auto have = e_.state.find(c.name());
    if (have != e_.state.end() && have->second.version() >= c.version()) continue;
    auto flying = e_.state_inflight.find(c.name());
    if (flying != e_.state_inflight.end() && flying->second >= c.version()) continue;
    FetchComponent(c.name(), c.version(), 0);
  }
}

void Follower::FetchSnapshot(uint64_t v, int attempt) {
  e_.snapshot_inflight = true;
  Get(Cls::kSnapshot,
      Url(access_.SnapshotPath(static_cast<int64_t>(v))), {},
      [this, v, attempt](HttpReply r) {
        v1::StateSnapshot snap;
        if (r.status == 200 && snap.ParseFromString(r.body)) {
          backoffs_.snapshot.Reset();
          e_.snapshot_inflight = false;
          if (snap.epoch() == epoch_) {
            for (const v1::StateComponent& c : snap.components()) ApplyComponent(c);
          }
          SyncState(e_.latest);
          return;
        }
        if (r.status == 404 && attempt >= 3) {
          // No snapshot at this version: fetch the components one by one.
          e_.snapshot_inflight = false;
          SyncState(e_.latest);
          return;
        }
        auto wait =
            r.status == 404 ? NotYetPause() : backoffs_.snapshot.Next(r.RetryAfter());
        if (r.status != 404) {
          Error(absl::UnavailableError(absl::StrCat("snapshot: HTTP ", r.status, " ", r.error)));
        }
        Later(wait, [this, v, attempt] { FetchSnapshot(v, attempt + 1); });
      });
}

void Follower::FetchComponent(const std::string& name, uint64_t v, int attempt) {
  uint64_t& flying = e_.state_inflight[name];
  flying = std::max(flying, v);
  Get(Cls::kState,
      Url(access_.StatePath(name, static_cast<int64_t>(v))), {},
      [this, name, v, attempt](HttpReply r) {
        v1::StateComponent c;
        if (r.status == 200 && c.ParseFromString(r.body)) {
          backoffs_.state.Reset();
          if (auto it = e_.state_inflight.find(name);
              it != e_.state_inflight.end() && it->second <= v) {
            e_.state_inflight.erase(it);
          }
          if (c.epoch() == epoch_ && c.name() == name) ApplyComponent(c);
          return;
        }
        if (attempt >= kMaxNotYet) {
          e_.state_inflight.erase(name);
          if (name == kRedactionsComponent) {
            // Never stop the walker for good; say so instead.
            e_.redactions_given_up = std::max(e_.redactions_given_up, v);
            ResumeParked();
          }
          Error(absl::NotFoundError(absl::StrCat("state ", name, "/", v, ": HTTP ", r.status)));
          return;
        }
        auto wait = r.status == 404 ? NotYetPause() : backoffs_.state.Next(r.RetryAfter());
        Later(wait, [this, name, v, attempt] { FetchComponent(name, v, attempt + 1); });
      });
}

// A state notice (DESIGN §10) is the component object itself: applied as
// if fetched, or fetched when its value was left out. Idempotent: only a
// version newer than the one held goes on. Peer notices are matched with
// the whole segment (PeerSignsOf), once the bucket closed.
void Follower::OnNotice(const v1::Message& m) {
  if (!m.notice().has_state()) return;
  const v1::StateComponent& c = m.notice().state();
  if (c.epoch() != epoch_ || !segmenter::IsValidId(c.name()) || c.version() == 0) return;
  // Gone already: the manifest and later snapshots no longer list it.
  if (c.expires_ms() > 0 && c.expires_ms() <= ServerNow()) return;
  auto have = e_.state.find(c.name());
  if (have != e_.state.end() && have->second.version() >= c.version()) return;
  if (!m.notice().value_omitted()) {
    ApplyComponent(c);
    return;
  }
  // Over 4 KiB: the object may be a publication round behind the notice
  // (FetchComponent asks a 404 again, a bounded number of times).
  auto flying = e_.state_inflight.find(c.name());
  if (flying != e_.state_inflight.end() && flying->second >= c.version()) return;
  FetchComponent(c.name(), c.version(), 0);
}

void Follower::ApplyNotices(const v1::ActionSegment& s) {
  for (const v1::Message& m : s.messages()) {
    if (m.seq() == 0 && segmenter::IsNotice(m)) OnNotice(m);
  }
}

void Follower::ApplyComponent(const v1::StateComponent& c) {
  auto [it, fresh] = e_.state.try_emplace(c.name(), c);
  if (!fresh) {
    if (it->second.version() >= c.version()) return;
    it->second = c;
  }
  ApplyRedactions(c);
  if (cb_.on_state) cb_.on_state(c);
  ResumeParked();
}

// --- peer -------------------------------------------------------------------

void Follower::FetchHintKey() {
  const std::string url = absl::StrCat(
      copts_.publisher_url, segmenter::PeerKeyPath(opts_.room, opts_.user));
  Get(Cls::kKey, url,
      {absl::StrCat("Authorization: Bearer ", opts_.token), "Accept: application/x-protobuf"},
      [this](HttpReply r) { OnHintKey(std::move(r)); });
}

void Follower::OnHintKey(HttpReply r) {
  v1::HintKey key;
  segmenter::HintKey k;
  if (r.status == 200 && key.ParseFromString(r.body) &&
      segmenter::HintKeyFromBytes(key.key(), &k)) {
    backoffs_.key.Reset();
    e_.hint_key = k;
    std::vector<PeerSigns> pending;
    pending.swap(e_.unchecked_hints);
    for (PeerSigns& signs : pending) CheckPeer(std::move(signs));
    return;
  }
  if (r.status == 401 || r.status == 403) {
    peer_enabled_ = false;
    Error(absl::PermissionDeniedError(
        absl::StrCat("hint key refused (HTTP ", r.status, "): no peer messages")));
    return;
  }
  Error(absl::UnavailableError(absl::StrCat("hint key: HTTP ", r.status, " ", r.error)));
  Later(backoffs_.key.Next(r.RetryAfter()), [this] { FetchHintKey(); });
}

Follower::PeerSigns Follower::PeerSignsOf(int64_t k, const v1::ActionSegment& s) {
  PeerSigns signs{.bucket = k};
  for (const v1::Message& m : s.messages()) {
    if (m.seq() != 0 || !segmenter::IsNotice(m) || !m.notice().has_peer()) continue;
    if (m.notice().peer().size() == segmenter::kPeerNoticeTagBytes) {
      signs.tags.push_back(m.notice().peer());
    }
  }
  // The cap keeps notices while the bucket's byte budget lasts; one left
  // out may have been ours.
  signs.tags_complete = !signs.tags.empty() && !s.dropped().contains("notice");
  if (s.has_peer_hint()) signs.hint = s.peer_hint();
  return signs;
}

// Bucket k has a peer message for this viewer if its first tag for k is
// among the bucket's (n = 1: one is enough, the peer object holds them
// all); without a complete set of tags, if the Bloom hint may hold it.
void Follower::CheckPeer(PeerSigns signs) {
  if (!signs.tags_complete && !signs.hint) return;
  if (!e_.hint_key) {
    if (signs.tags.size() > kMaxKeptTags) {
      signs.tags.clear();
      signs.tags_complete = false;
    }
    if (e_.unchecked_hints.size() < kMaxUncheckedHints) {
      e_.unchecked_hints.push_back(std::move(signs));
    }
    return;
  }
  const int64_t k = signs.bucket;
  const bool ours =
      signs.tags_complete
          ? std::find(signs.tags.begin(), signs.tags.end(),
                      segmenter::PeerNoticeTag(*e_.hint_key, k, 1)) != signs.tags.end()
          : signs.hint && segmenter::PeerHintMayContain(*signs.hint, *e_.hint_key, k);
  if (!ours) return;
  e_.peer_queue.push_back(k);
  PumpPeer();
}

// One peer object at a time, in bucket order, so peer messages arrive in order.
void Follower::PumpPeer() {
  if (e_.peer_busy || e_.peer_queue.empty() || !peer_enabled_) return;
  e_.peer_busy = true;
  const int64_t k = e_.peer_queue.front();
  Get(Cls::kPeer, Url(access_.PeerPath(opts_.user, e_.d, k)),
      {absl::StrCat("Authorization: Bearer ", opts_.token)},
      [this, k](HttpReply r) { OnPeer(k, std::move(r)); });
}

void Follower::OnPeer(int64_t k, HttpReply r) {
  e_.peer_busy = false;
  v1::PeerBatch b;
  if (r.status == 200 && b.ParseFromString(r.body)) {
    backoffs_.peer.Reset();
    e_.peer_queue.pop_front();
    if (b.epoch() == epoch_) {
      for (const v1::Message& m : b.messages()) {
        if (m.seq() <= e_.last_peer_seq) continue;
        e_.last_peer_seq = m.seq();
        if (cb_.on_peer) cb_.on_peer(m);
      }
    }
    PumpPeer();
    return;
  }
  if (r.status == 401 || r.status == 403) {
    peer_enabled_ = false;
    e_.peer_queue.clear();
    Error(absl::PermissionDeniedError(
        absl::StrCat("peer object refused (HTTP ", r.status, "): no peer messages")));
    return;
  }
  auto wait = r.status == 404 ? NotYetPause() : backoffs_.peer.Next(r.RetryAfter());
  e_.peer_busy = true;
  Later(wait, [this] {
    e_.peer_busy = false;
    PumpPeer();
  });
}

}  // namespace roomcast::client::internal
