// The follower's action walker: bucket-hold and planned (manifest-hold)
// reads, exactly-once delivery, and gap recovery.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/internal/retry.h"
#include "client/internal/follower.h"
#include "segmenter/bucketer.h"

namespace roomcast::client::internal {

using segmenter::BucketEnd;

void Follower::Pump() {
  ReleaseHeld();  // the sequencer may have moved on
  if (!e_.joined || e_.walker != Walker::kIdle || ended_) return;
  while (!e_.plan.empty() && e_.plan.front() < e_.cursor) e_.plan.pop_front();
  DropLiveBefore(e_.cursor);
  int64_t k;
  if (!e_.plan.empty()) {
    k = e_.plan.front();
  } else {
    e_.cursor = std::max(e_.cursor, e_.plan_end);
    if (mode_ != FollowMode::kBucketHold || e_.ended_seen) {
      CheckEnded();
      return;
    }
    k = e_.cursor;
  }
  e_.walker = Walker::kFetching;
  e_.walker_bucket = k;
  const int64_t wait = OpenAt(k) - ServerNow();
  if (wait > 0) {
    Later(std::chrono::milliseconds(wait), [this, k] {
      // Unless a stream asked ahead already brought k and the walker moved on.
      if (e_.walker == Walker::kFetching && e_.walker_bucket == k) FetchBucket(k);
    });
  } else {
    FetchBucket(k);
  }
}

// Bucket `k`'s segment, served closed.
void Follower::OnSegment(int64_t k, int64_t recv_local_ms, v1::ActionSegment s) {
  backoffs_.bucket.Reset();
  // Served closed (a stream ends at the close): the publisher's clock had
  // passed its end.
  clock_.AtLeast(recv_local_ms, BucketEnd(k, e_.d));
  if (s.epoch() != epoch_) {
    if (s.epoch() > epoch_) {
      Rejoin(s.epoch());
      return;
    }
    // An older epoch's object (an earlier life of the room) is not ours.
    Error(absl::DataLossError(absl::StrCat("bucket ", k, ": epoch ", s.epoch())));
    ManifestSoon();  // a cache's stale copy, or a change the manifest tells of
    s.Clear();
    s.set_index(k);
  }
  if (!ReadyFor(k)) {
    // The manifest lists retractions this follower has not read yet, or
    // the follower is behind and must read the manifest first: hold the
    // segment (the walker stays busy) until they are in.
    e_.parked_segment.emplace(k, std::move(s));
    if (!RedactionsCurrent()) return;
    ManifestNow();
    return;
  }
  e_.walker = Walker::kIdle;
  Process(k, std::move(s));
  Pump();
}

void Follower::Process(int64_t k, v1::ActionSegment s) {
  if (std::optional<Sequencer::Gap> gap = e_.seq.GapBefore(s)) {
    Recover(k, std::move(s), *gap);
    return;
  }
  Deliver(k, s);
  e_.cursor = std::max(e_.cursor, k + 1);
}

void Follower::Deliver(int64_t k, const v1::ActionSegment& s) {
  for (const v1::Message* m : e_.seq.Take(s, e_.join_ms)) DeliverOne(*m);
  if (!s.dropped().empty() && cb_.on_dropped) {
    std::map<std::string, uint64_t> dropped(s.dropped().begin(), s.dropped().end());
    cb_.on_dropped(k, dropped);
  }
  if (peer_enabled_) CheckPeer(PeerSignsOf(k, s));
}

void Follower::DeliverOne(const v1::Message& m) {
  v1::Message shown;
  if (!Deliverable(m, &shown)) return;  // retracted, a stub, or a retraction of those
  ++stats_.actions;
  if (m.has_retract()) {
    if (cb_.on_retract) {
      cb_.on_retract(shown);
    } else if (cb_.on_action) {
      cb_.on_action(shown);
    }
    return;
  }
  NoteDelivered(m.seq());
  if (cb_.on_action) cb_.on_action(m);
}

// What recovery could not find is reported, never skipped silently.
void Follower::DeliverReportingGap(int64_t k, const v1::ActionSegment& s) {
  if (std::optional<Sequencer::Gap> gap = e_.seq.GapBefore(s)) {
    ++stats_.gaps;
    if (cb_.on_gap) cb_.on_gap(gap->first, gap->last);
    e_.seq.SkipTo(s.first_seq());
  }
  Deliver(k, s);
}

// A segment starts after the next seq expected: the missing seqs are in
// segments this follower has not seen (a bucket served empty in error, or a
// planned skip that was wrong). The manifest names recent segments by seq
// range; fetch those, then deliver the held segment.
void Follower::Recover(int64_t k, v1::ActionSegment s, Sequencer::Gap gap) {
  e_.walker = Walker::kRecovering;
  e_.held_segment.emplace(k, std::move(s));
  Get(Cls::kManifest, Url(access_.ManifestPath()), {},
      [this, k, gap](HttpReply r) {
        std::optional<v1::Manifest> m;
        if (r.status == 200) m = DecodeManifest(r);
        auto todo = std::make_shared<std::deque<int64_t>>();
        if (m && m->epoch() == epoch_) {
          for (const v1::SegmentRef& ref : m->recent_segments()) {
            if (ref.index() != k && ref.last_seq() >= gap.first &&
                ref.first_seq() <= gap.last) {
              todo->push_back(ref.index());
            }
          }
          std::sort(todo->begin(), todo->end());
        }
        RecoverNext(todo, 0);
      });
}

void Follower::RecoverNext(std::shared_ptr<std::deque<int64_t>> todo, int attempts) {
  if (todo->empty()) {
    FinishRecovery();
    return;
  }
  const int64_t k = todo->front();
  Get(Cls::kBucket, Url(access_.SegmentPath(e_.d, k)), {},
      [this, todo, attempts, k](HttpReply r) {
        v1::ActionSegment s;
        if (r.status != 200 || !s.ParseFromString(r.body) || s.epoch() != epoch_) {
          if (attempts < 3) {
            Later(NotYetPause(), [this, todo, attempts] { RecoverNext(todo, attempts + 1); });
            return;
          }
        } else {
          ApplyNotices(s);  // read whole, not through the stream
          DeliverReportingGap(k, s);
        }
        todo->pop_front();
        RecoverNext(todo, 0);
      });
}

void Follower::FinishRecovery() {
  auto [k, s] = std::move(*e_.held_segment);
  e_.held_segment.reset();
  e_.walker = Walker::kIdle;
  DeliverReportingGap(k, s);
  e_.cursor = std::max(e_.cursor, k + 1);
  Pump();
  CheckEnded();
}

}  // namespace roomcast::client::internal
