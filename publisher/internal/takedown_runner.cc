#include "publisher/internal/takedown_runner.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/takedown.h"

namespace roomcast::publisher::internal {
namespace {

constexpr absl::string_view kProto = "application/x-protobuf";

std::string PercentEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

log::TakedownEntry Entry(const std::string& path, const std::string& old_digest,
                         const std::string& new_digest, const log::Takedown& t,
                         const std::vector<uint64_t>& seqs) {
  log::TakedownEntry e;
  e.set_path(path);
  e.set_old_digest(old_digest);
  e.set_new_digest(new_digest);
  e.set_at_ms(t.at_ms());
  e.set_reason(t.reason());
  for (uint64_t s : seqs) e.add_seqs(s);
  return e;
}

log::Record DoneRecord(uint64_t id, std::optional<log::TakedownEntry> entry, bool finished) {
  log::Record r;
  log::TakedownDone* d = r.mutable_takedown_done();
  d->set_id(id);
  if (entry) *d->mutable_entry() = *std::move(entry);
  d->set_finished(finished);
  return r;
}

const log::TakedownPlan* PlanFor(const log::TakedownJob& job, const std::string& path) {
  for (const log::TakedownPlan& p : job.plans()) {
    if (p.path() == path) return &p;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> TakedownHeaders(const std::string& old_digest,
                                         const std::vector<uint64_t>& seqs,
                                         const std::string& reason, int64_t at_ms) {
  return {absl::StrCat("Roomcast-Takedown-Old: ", old_digest),
          absl::StrCat("Roomcast-Takedown-Seqs: ", absl::StrJoin(seqs, ",")),
          absl::StrCat("Roomcast-Takedown-Reason: ", PercentEncode(reason)),
          absl::StrCat("Roomcast-Takedown-At: ", at_ms)};
}

TakedownRunner::TakedownRunner(Options options, const base::Clock* clock, Uploader* uploader,
                               Sequencer* sequencer, RoomTable* rooms, http::Metrics* metrics)
    : options_(options),
      clock_(clock),
      uploader_(uploader),
      sequencer_(sequencer),
      rooms_(rooms),
      replaced_(metrics->AddCounter("roomcast_publisher_takedown_objects_total",
                                    "Objects replaced at the origin by a takedown")),
      failed_(metrics->AddCounter("roomcast_publisher_takedown_failures_total",
                                  "Takedown PUTs the origin refused (the job waits) or seqs not found")),
      rendered_(metrics->AddCounter("roomcast_publisher_takedown_rendered_total",
                                    "Objects rendered with takedown stubs after the takedown")) {}

TakedownRunner::~TakedownRunner() { Stop(); }

void TakedownRunner::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void TakedownRunner::Start(const std::vector<std::string>& rooms) {
  {
    absl::MutexLock l(&mu_);
    pending_.insert(rooms.begin(), rooms.end());
  }
  thread_ = std::thread([this] { Loop(); });
}

void TakedownRunner::Wake(const std::string& room) {
  absl::MutexLock l(&mu_);
  pending_.insert(room);
  waiting_.erase(room);
}

void TakedownRunner::Loop() {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || !pending_.empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(options_.retry_ms));
      if (stop_) return;
    }
    RunOnce();
  }
}

void TakedownRunner::RunOnce() {
  std::set<std::string> rooms;
  {
    absl::MutexLock l(&mu_);
    rooms.swap(pending_);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [room, retry] : waiting_) {
      if (retry.at <= now) rooms.insert(room);
    }
  }
  for (const std::string& room : rooms) {
    absl::Status s = RunRoom(room);
    if (!s.ok()) {
      Failed(room, s);
      continue;
    }
    absl::MutexLock l(&mu_);
    waiting_.erase(room);
  }
}

void TakedownRunner::Failed(const std::string& room, const absl::Status& why) {
  int failures = 0;
  {
    absl::MutexLock l(&mu_);
    Retry& r = waiting_[room];
    failures = ++r.failures;
    const int64_t wait = std::min(kMaxRetryMs, options_.retry_ms << std::min(failures - 1, 16));
    r.at = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
  }
  // Logged on the 1st, 2nd, 4th, 8th ... failure: a long wait stays quiet.
  if ((failures & (failures - 1)) != 0) return;
  ROOMCAST_LOG(kWarning, "publisher", "takedown_waits")
      .Kv("room", room)
      .Kv("failures", failures)
      .Kv("status", why);
}

absl::Status TakedownRunner::RunRoom(const std::string& room) {
  std::optional<TakedownWork> w = rooms_->Takedowns(room);
  absl::Status first = absl::OkStatus();
  if (w) {
    for (const log::TakedownJob& job : w->jobs) {
      absl::Status s = RunJob(room, *w, job);
      if (first.ok()) first = std::move(s);
    }
  }
  if (!first.ok()) return first;
  found_.erase(room);  // no job left (or the room was forgotten)
  return absl::OkStatus();
}

absl::Status TakedownRunner::RunJob(const std::string& room, const TakedownWork& w,
                                    const log::TakedownJob& job) {
  ROOMCAST_ASSIGN_OR_RETURN(std::vector<Target> targets, Targets(w, job));
  for (const Target& t : targets) {
    if (std::find(job.done().begin(), job.done().end(), t.path) != job.done().end()) continue;
    ROOMCAST_RETURN_IF_ERROR(RunTarget(w, job, t));
  }
  ROOMCAST_LOG(kInfo, "publisher", "takedown_done")
      .Kv("room", room)
      .Kv("takedown", job.request().id())
      .Kv("objects", targets.size());
  return Log(room, DoneRecord(job.request().id(), std::nullopt, true), true);
}

absl::StatusOr<std::vector<TakedownRunner::Target>> TakedownRunner::Targets(
    const TakedownWork& w, const log::TakedownJob& job) {
  std::map<std::string, Target> by_path;
  const int64_t d = w.bucket_ms;
  const int64_t r = w.rollup_ms;
  for (uint64_t seq : job.request().seqs()) {
    ROOMCAST_ASSIGN_OR_RETURN(std::optional<int64_t> k, BucketOf(w, job, seq));
    if (!k) continue;  // at no object of the origin (expired, or never held)
    Target& seg = by_path[segmenter::SegmentPath(w.room, d, *k, segmenter::Format::kProto,
                                                 w.scope)];
    seg.seqs.push_back(seq);
    seg.end_ms = segmenter::BucketEnd(*k, d);
    if (r <= d) continue;
    // A rollup not built yet gets the stubs when it is (RoomCloser).
    const int64_t ri = segmenter::BucketIndex(segmenter::BucketStart(*k, d), r);
    if (segmenter::BucketEnd(ri, r) > w.closed_through_ms) continue;
    Target& rollup = by_path[segmenter::SegmentPath(w.room, r, ri, segmenter::Format::kProto,
                                                    w.scope)];
    rollup.seqs.push_back(seq);
    rollup.end_ms = segmenter::BucketEnd(ri, r);
  }
  std::vector<Target> out;
  for (auto& [path, t] : by_path) {
    t.path = path;
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> TakedownRunner::BucketOf(const TakedownWork& w,
                                                               const log::TakedownJob& job,
                                                               uint64_t seq) {
  for (const log::Located& at : job.request().located()) {
    if (at.seq() == seq) return segmenter::BucketIndex(at.ts_ms(), w.bucket_ms);
  }
  for (const v1::SegmentRef& ref : w.recent) {
    if (ref.first_seq() <= seq && seq <= ref.last_seq()) return ref.index();
  }
  const auto& found = found_[w.room];
  auto it = found.upper_bound({seq, std::numeric_limits<uint64_t>::max()});
  if (it != found.begin() && std::prev(it)->first.second >= seq) return std::prev(it)->second;
  absl::StatusOr<std::optional<int64_t>> k = SearchOrigin(w, seq);
  if (absl::IsResourceExhausted(k.status())) {
    // Not found within the probes, but its bucket may exist: the job
    // waits (and searches again) rather than leave the message published.
    failed_.Add();
    ROOMCAST_LOG(kError, "publisher", "takedown_seq_not_found")
        .Kv("room", w.room)
        .Kv("seq", seq)
        .Kv("status", k.status());
  }
  return k;
}

// Binary search by first_seq/last_seq over the room's closed buckets that
// can still exist (those past its retention are swept: a seq there is
// nothing to do); an empty or missing bucket is passed over towards later
// ones, within max_probes GETs in all (kResourceExhausted past them).
absl::StatusOr<std::optional<int64_t>> TakedownRunner::SearchOrigin(const TakedownWork& w,
                                                                   uint64_t seq) {
  const int64_t from_ms = std::max(w.opened_ms, clock_->NowMs() - w.retention_ms);
  int64_t lo = segmenter::BucketIndex(from_ms, w.bucket_ms);
  int64_t hi = segmenter::BucketIndex(std::max(w.closed_through_ms - 1, w.opened_ms), w.bucket_ms);
  int probes = 0;
  while (lo <= hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    int64_t k = mid;
    std::optional<v1::ActionSegment> seg;
    for (; k <= hi; ++k) {
      if (++probes > options_.max_probes) {
        return absl::ResourceExhaustedError(
            absl::StrCat("seq ", seq, " not found within ", options_.max_probes, " probes"));
      }
      std::string bytes;
      ROOMCAST_ASSIGN_OR_RETURN(seg, Fetch(segmenter::SegmentPath(w.room, w.bucket_ms, k,
                                                                  segmenter::Format::kProto,
                                                                  w.scope),
                                           &bytes));
      if (seg && seg->last_seq() != 0) break;
    }
    if (k > hi || seq < seg->first_seq()) {
      hi = mid - 1;
    } else if (seq > seg->last_seq()) {
      lo = k + 1;
    } else {
      found_[w.room][{seg->first_seq(), seg->last_seq()}] = k;
      return k;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<v1::ActionSegment>> TakedownRunner::Fetch(const std::string& path,
                                                                      std::string* bytes) {
  ROOMCAST_ASSIGN_OR_RETURN(OriginReply got, uploader_->Get(path));
  if (got.status == 404) return std::nullopt;
  if (got.status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", path, ": HTTP ", got.status));
  }
  v1::ActionSegment seg;
  if (!seg.ParseFromString(got.body)) {
    return absl::DataLossError(absl::StrCat("GET ", path, ": not a segment"));
  }
  *bytes = std::move(got.body);
  return seg;
}

bool TakedownRunner::Expired(const TakedownWork& w, int64_t end_ms) const {
  return end_ms + w.retention_ms <= clock_->NowMs();
}

absl::Status TakedownRunner::RunTarget(const TakedownWork& w, const log::TakedownJob& job,
                                       const Target& t) {
  const std::string& room = w.room;
  std::string bytes;
  ROOMCAST_ASSIGN_OR_RETURN(std::optional<v1::ActionSegment> seg, Fetch(t.path, &bytes));
  if (!seg && Expired(w, t.end_ms)) {
    // Swept by retention: nothing left to take down, and it cannot return.
    ROOMCAST_LOG(kInfo, "publisher", "takedown_object_expired")
        .Kv("room", room)
        .Kv("takedown", job.request().id())
        .Kv("path", t.path);
    return Log(room, DoneRecord(job.request().id(), std::nullopt, false), true);
  }
  // Closed, so uploaded or about to be: wait for it.
  if (!seg) return absl::UnavailableError(absl::StrCat(t.path, " is not at the origin yet"));
  v1::ActionSegment stubbed = *seg;
  std::vector<uint64_t> changed = segmenter::StubMessages(&stubbed, t.seqs);
  if (!changed.empty()) {
    return Replace(room, job, t, bytes, std::move(stubbed), std::move(changed));
  }
  // Nothing left to stub: done before a crash (the plan says so), or the
  // object never held them (sampled out, rendered with stubs already).
  const log::TakedownPlan* plan = PlanFor(job, t.path);
  std::optional<log::TakedownEntry> entry;
  if (plan != nullptr && plan->new_digest() == base::Sha256Hex(bytes)) {
    entry = Entry(t.path, plan->old_digest(), plan->new_digest(), job.request(),
                  {plan->seqs().begin(), plan->seqs().end()});
  }
  return Log(room, DoneRecord(job.request().id(), std::move(entry), false), true);
}

absl::Status TakedownRunner::Replace(const std::string& room, const log::TakedownJob& job,
                                     const Target& t, const std::string& old_bytes,
                                     v1::ActionSegment stubbed, std::vector<uint64_t> changed) {
  const std::string body = segmenter::SerializeDeterministic(stubbed);
  const std::string old_digest = base::Sha256Hex(old_bytes);
  const std::string new_digest = base::Sha256Hex(body);
  log::Record plan;
  log::TakedownPlan* p = plan.mutable_takedown_plan();
  p->set_id(job.request().id());
  p->set_path(t.path);
  p->set_old_digest(old_digest);
  p->set_new_digest(new_digest);
  for (uint64_t s : changed) p->add_seqs(s);
  ROOMCAST_RETURN_IF_ERROR(Log(room, std::move(plan), false));
  ROOMCAST_ASSIGN_OR_RETURN(
      OriginReply got,
      uploader_->PutWithHeaders(
          t.path, body, kProto,
          TakedownHeaders(old_digest, changed, job.request().reason(), job.request().at_ms())));
  if (got.status == 409 || got.status >= 500 || got.status == 429) {
    // Someone else's bytes there now, or the origin is busy: look again.
    return absl::UnavailableError(absl::StrCat("takedown PUT ", t.path, ": HTTP ", got.status,
                                               " ", got.body.substr(0, 200)));
  }
  if (got.status != 200 && got.status != 201) {
    // Refused (a rotated secret, a bad request): the object still holds
    // the messages, so the job waits, loudly, until an operator fixes it.
    failed_.Add();
    ROOMCAST_LOG(kError, "publisher", "takedown_refused")
        .Kv("room", room)
        .Kv("path", t.path)
        .Kv("status", got.status)
        .Kv("body", got.body.substr(0, 200));
    return absl::FailedPreconditionError(
        absl::StrCat("takedown PUT ", t.path, " refused: HTTP ", got.status));
  }
  replaced_.Add();
  return Log(room,
             DoneRecord(job.request().id(),
                        Entry(t.path, old_digest, new_digest, job.request(), changed), false),
             true);
}

absl::Status TakedownRunner::Log(const std::string& room, log::Record record, bool stamp) {
  record.set_room(room);
  absl::Notification durable;
  absl::Status result;
  sequencer_->Submit(
      {.prepare =
           [&](Sequencer::Draft& d) -> absl::Status {
             Room* r = d.Find(room);
             if (r == nullptr) return absl::NotFoundError(absl::StrCat("no room '", room, "'"));
             if (stamp) record.mutable_takedown_done()->set_ts_ms(d.Stamp(r));
             d.Add(record);
             return absl::OkStatus();
           },
       .done =
           [&](absl::Status s) {
             result = std::move(s);
             durable.Notify();
           }});
  durable.WaitForNotification();
  return result;
}

absl::Status TakedownRunner::UploadRendered(const std::string& room, const Upload& u) {
  log::Takedown t;
  t.set_at_ms(u.takedown_at_ms);
  t.set_reason(u.takedown_reason);
  ROOMCAST_RETURN_IF_ERROR(
      Log(room,
          DoneRecord(0, Entry(u.path, u.unstubbed_digest, u.new_digest, t, u.stubbed), false),
          true));
  ROOMCAST_ASSIGN_OR_RETURN(
      OriginReply got,
      uploader_->PutWithHeaders(
          u.path, u.bytes, kProto,
          TakedownHeaders(u.unstubbed_digest, u.stubbed, u.takedown_reason, u.takedown_at_ms)));
  rendered_.Add();
  if (got.status == 200 || got.status == 201) return absl::OkStatus();
  // Nothing stored there: the object goes up as any other.
  if (got.status == 404) return uploader_->Put(u.path, u.bytes, kProto);
  if (got.status == 409) return absl::AlreadyExistsError(got.body.substr(0, 200));
  return absl::FailedPreconditionError(
      absl::StrCat("takedown PUT ", u.path, ": HTTP ", got.status, " ", got.body.substr(0, 200)));
}

}  // namespace roomcast::publisher::internal
