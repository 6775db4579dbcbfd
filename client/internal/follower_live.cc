// The follower's bucket reads as streams (DESIGN §10). Every bucket is read
// through the progressive reader: a server that streams open buckets hands
// over each record as the publisher makes it durable, and the follower
// delivers it at once if it is the next in seq order; a closed bucket's
// complete body is the same bytes, read the same way. In bucket-hold mode
// the next bucket is asked for live_lead before the walker's ends, so its
// stream is open before its first record. A stream that ends without its
// summary is asked for again; the sequencer skips what was taken.
//
// Order across the two open streams: a record is taken when its seq is the
// next one expected (nothing can lie between), or when its bucket already
// had one taken (what lies between is that bucket's own drops and
// retractions). Any other record may follow a gap, or the end of the
// previous bucket still streaming: it is held, and taken once the previous
// bucket's summary accounts for the seqs before it, or with its own
// complete segment (which goes the way a closed one always went: gap
// recovery, parked redactions).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/internal/follower.h"
#include "segmenter/bucketer.h"
#include "segmenter/messages.h"

namespace roomcast::client::internal {

using segmenter::BucketEnd;
using segmenter::BucketStart;

// When the walker asks for bucket k: a streaming server holds a request
// until its bucket starts, so live_lead before the start is soon enough; a
// server that only holds closed buckets is asked hold_lead before the end.
int64_t Follower::OpenAt(int64_t k) const {
  const int64_t held = BucketEnd(k, e_.d) - copts_.hold_lead.count();
  if (e_.hold_only) return held;
  return std::min(held, BucketStart(k, e_.d) - copts_.live_lead.count());
}

void Follower::FetchBucket(int64_t k) {
  e_.walker = Walker::kFetching;
  e_.walker_bucket = k;
  auto it = e_.live.find(k);
  if (it != e_.live.end() && it->second.done) {
    // The prefetched stream completed while the walker was behind.
    v1::ActionSegment s = std::move(*it->second.done);
    const int64_t at = it->second.done_local_ms;
    e_.live.erase(it);
    OnSegment(k, at, std::move(s));
    return;
  }
  if (it == e_.live.end() || it->second.fetch == 0) OpenStream(k);
  SchedulePrefetch(k);
  ReleaseHeld();  // records of k read ahead may be the walker's to take now
}

void Follower::OpenStream(int64_t k) {
  LiveBucket& b = e_.live[k];
  EndStream(b);
  b.stream = std::make_unique<SegmentStream>();
  // A stream lasts until its bucket closes: as long as the bucket has left
  // to run, plus the usual timeout.
  const int64_t left = std::max<int64_t>(0, BucketEnd(k, e_.d) - ServerNow());
  b.fetch = Get(
      Cls::kBucket, Url(access_.SegmentPath(e_.d, k)), {},
      [this, k](HttpReply r) { OnStreamEnd(k, std::move(r)); },
      [this, k](absl::string_view bytes) { OnStreamBytes(k, bytes); },
      copts_.request_timeout + std::chrono::milliseconds(left));
}

// Opens bucket k+1's stream live_lead before k ends, once the server was
// not seen to hold closed buckets only.
void Follower::SchedulePrefetch(int64_t k) {
  if (mode_ != FollowMode::kBucketHold || e_.hold_only || !e_.plan.empty()) return;
  auto open_next = [this, k] {
    if (e_.walker_bucket != k || mode_ != FollowMode::kBucketHold || e_.hold_only ||
        e_.ended_seen || e_.live.contains(k + 1)) {
      return;
    }
    OpenStream(k + 1);
  };
  const int64_t wait = BucketEnd(k, e_.d) - copts_.live_lead.count() - ServerNow();
  if (wait > 0) {
    Later(std::chrono::milliseconds(wait), open_next);
  } else {
    open_next();
  }
}

void Follower::RetryStream(int64_t k, std::chrono::milliseconds wait) {
  Later(wait, [this, k] {
    auto it = e_.live.find(k);
    if (it == e_.live.end() || it->second.fetch != 0 || it->second.done) return;
    if (k < e_.cursor) {
      e_.live.erase(it);
      return;
    }
    OpenStream(k);
  });
}

// Lets go of a bucket's read in progress (its records taken stay taken).
void Follower::EndStream(LiveBucket& b) {
  if (b.fetch != 0) {
    loop_->CancelFetch(b.fetch);
    fetches_.erase(b.fetch);
    b.fetch = 0;
  }
  b.stream.reset();
  b.held.clear();
}

void Follower::DropLiveBefore(int64_t k) {
  while (!e_.live.empty() && e_.live.begin()->first < k) {
    EndStream(e_.live.begin()->second);
    e_.live.erase(e_.live.begin());
  }
}

void Follower::OnStreamBytes(int64_t k, absl::string_view bytes) {
  auto it = e_.live.find(k);
  if (it == e_.live.end() || !it->second.stream) return;
  absl::Status st =
      it->second.stream->Feed(bytes, [this, k](const v1::Message& m) { OnRecord(k, m); });
  if (st.ok()) return;
  Error(absl::DataLossError(absl::StrCat("bucket ", k, ": ", st.message())));
  it = e_.live.find(k);
  if (it == e_.live.end()) return;
  EndStream(it->second);
  RetryStream(k, backoffs_.bucket.Next());
}

void Follower::OnStreamEnd(int64_t k, HttpReply r) {
  auto it = e_.live.find(k);
  if (it == e_.live.end()) return;
  it->second.fetch = 0;  // done: Get let go of it
  if (r.status == 200) {
    OnStreamSegment(k, r);
    return;
  }
  EndStream(it->second);
  if (r.status == 0) {
    // No answer, or a stream cut before its summary (the origin stopped, a
    // cache gave up on it): ask again, skipping what was taken.
    Error(absl::UnavailableError(absl::StrCat("bucket ", k, ": ", r.error)));
    RetryStream(k, backoffs_.bucket.Next());
    return;
  }
  OnStreamRefused(k, r);
}

// A 200 that ended: the whole segment, or a body that is not one.
void Follower::OnStreamSegment(int64_t k, const HttpReply& r) {
  LiveBucket& b = e_.live[k];
  absl::StatusOr<v1::ActionSegment> s =
      b.stream ? b.stream->Finish() : absl::DataLossError("no stream");
  EndStream(b);
  if (!s.ok() || s->index() != k || s->bucket_ms() != e_.d) {
    Error(absl::DataLossError(absl::StrCat(
        "bucket ", k, ": not its segment", s.ok() ? "" : absl::StrCat(" (", s.status().message(), ")"))));
    RetryStream(k, backoffs_.bucket.Next());
    return;
  }
  if (e_.walker == Walker::kFetching && e_.walker_bucket == k) {
    e_.live.erase(k);
    OnSegment(k, r.recv_local_ms, *std::move(s));
    return;
  }
  b.done = *std::move(s);  // the walker takes it when it gets here
  b.done_local_ms = r.recv_local_ms;
}

// Any status but 200 (401/403 never get here: the follower stopped).
void Follower::OnStreamRefused(int64_t k, const HttpReply& r) {
  if (r.status == 404 && r.MaxAge() >= 10) {
    // Before the room existed or past its retention. The walker's cursor is
    // void; a bucket asked ahead of it is just dropped.
    if (e_.walker_bucket != k) {
      e_.live.erase(k);
      return;
    }
    Error(absl::NotFoundError(absl::StrCat("bucket ", k, " is outside the room's life")));
    Rejoin(std::nullopt);
    return;
  }
  if (r.status == 404) {
    // Not yet. Asked before the server would hold it as a closed bucket:
    // it does not stream, so from now on ask when it would.
    const int64_t held_from = BucketEnd(k, e_.d) - copts_.hold_lead.count();
    const int64_t early = held_from - ServerNow();
    if (early > 0) {
      e_.hold_only = true;
      ManifestSoon();  // no notices come: state is the manifest's again
      RetryStream(k, std::chrono::milliseconds(early));
      return;
    }
    // Held as closed and still not there: the room may have ended, or moved
    // on to another epoch, which only the manifest tells.
    ManifestSoon();
    RetryStream(k, NotYetPause());
    return;
  }
  Error(absl::UnavailableError(absl::StrCat("bucket ", k, ": HTTP ", r.status, " ", r.error)));
  RetryStream(k, backoffs_.bucket.Next(r.RetryAfter()));
}

void Follower::OnRecord(int64_t k, const v1::Message& m) {
  if (m.seq() == 0) {
    // Not an action (a notice, DESIGN §10): applied at once, never taken,
    // never counted in the seq order; a stream asked again repeats it.
    if (segmenter::IsNotice(m)) OnNotice(m);
    return;
  }
  LiveBucket& b = e_.live[k];
  const std::optional<uint64_t> next = e_.seq.next();
  if (next && m.seq() < *next) return;  // taken before (a stream asked again)
  if (!b.held.empty() || !Takeable(k, b, m.seq())) {
    b.held.push_back(m);
    if (RedactionsCurrent() && !ReadyFor(k)) ManifestNow();
    return;
  }
  TakeRecord(b, m);
  ++stats_.live_actions;
  ReleaseHeld();
}

bool Follower::Takeable(int64_t k, const LiveBucket& b, uint64_t seq) const {
  // Nothing is delivered before the redactions the manifest lists are in,
  // nor, by a follower that fell behind, before a manifest read.
  if (!ReadyFor(k)) return false;
  const std::optional<uint64_t> next = e_.seq.next();
  // The first bucket since the join: no gap before it, by definition.
  if (!next) return e_.walker == Walker::kFetching && k == e_.walker_bucket;
  return seq == *next || b.anchored;
}

void Follower::TakeRecord(LiveBucket& b, const v1::Message& m) {
  b.anchored = true;
  e_.seq.TakeOne(m.seq());
  // Stamped before the join: seen, not ours (as Sequencer::Take).
  if (m.ts_ms() >= e_.join_ms) DeliverOne(m);
}

// Takes every held record that is now next in order, bucket by bucket.
void Follower::ReleaseHeld() {
  for (auto& [k, b] : e_.live) {
    while (!b.held.empty()) {
      const std::optional<uint64_t> next = e_.seq.next();
      const uint64_t seq = b.held.front().seq();
      if (next && seq < *next) {
        b.held.pop_front();  // the segment of an earlier bucket had it
        continue;
      }
      if (!Takeable(k, b, seq)) break;
      v1::Message m = std::move(b.held.front());
      b.held.pop_front();
      TakeRecord(b, m);
      ++stats_.live_actions;
    }
  }
}

}  // namespace roomcast::client::internal
