#include "origin/internal/purger.h"

#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/backoff.h"
#include "base/log.h"
#include "http/curl.h"

namespace roomcast::origin {

struct Purger::Entry {
  ObjectStore::QueuedPurge queued;
  base::JitteredExponentialBackOff backoff;
  int attempts = 0;
  bool repeat = false;  // the best-effort second PURGE
};

// One cache: its queue by when each purge is next due, and its thread.
struct Purger::Lane {
  std::string base;
  mutable absl::Mutex mu;
  absl::CondVar cv;
  std::multimap<absl::Time, std::unique_ptr<Entry>> due ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  std::thread thread;
};

namespace {

// "http://host:port/" and "http://host:port" name one cache.
std::string NormalBase(absl::string_view base) {
  return std::string(absl::StripSuffix(base, "/"));
}

}  // namespace

Purger::Purger(PurgeOptions options, ObjectStore* store, http::Metrics* metrics)
    : options_(std::move(options)),
      store_(store),
      metrics_(metrics),
      pending_(metrics->AddGauge("roomcast_origin_purges_pending",
                                 "Cache purges owed for takedowns, not yet done")) {
  for (const std::string& base : options_.bases) {
    if (LaneFor(NormalBase(base)) != nullptr) continue;
    lanes_.push_back(std::make_unique<Lane>());
    lanes_.back()->base = NormalBase(base);
  }
}

Purger::~Purger() {
  shutdown_ns_.store(0);
  for (auto& lane : lanes_) {
    {
      absl::MutexLock lock(&lane->mu);
      lane->stop = true;
    }
    lane->cv.SignalAll();
  }
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) lane->thread.join();
  }
}

Purger::Lane* Purger::LaneFor(const std::string& base) const {
  for (const auto& lane : lanes_) {
    if (lane->base == base) return lane.get();
  }
  return nullptr;
}

absl::Status Purger::Start() {
  auto owed = store_->LoadPurges();
  if (!owed.ok()) return owed.status();
  std::vector<ObjectStore::QueuedPurge> keep;
  for (ObjectStore::QueuedPurge& q : *owed) {
    if (LaneFor(q.purge.base()) != nullptr) {
      keep.push_back(std::move(q));
      continue;
    }
    // A cache no longer named by --purge: nobody will ever purge it.
    ROOMCAST_LOG(kWarning, "origin", "purge_dropped")
        .Kv("base", q.purge.base()).Kv("path", q.purge.path())
        .Kv("reason", "no longer a --purge cache");
    metrics_->AddCounter("roomcast_origin_purges_total", "Cache purges by result",
                         {{"result", "dropped"}}).Add();
    if (absl::Status s = store_->DeletePurge(q.key); !s.ok()) return s;
  }
  if (!keep.empty()) {
    ROOMCAST_LOG(kInfo, "origin", "purges_resumed").Kv("count", keep.size());
  }
  Enqueue(std::move(keep));
  for (auto& lane : lanes_) lane->thread = std::thread([this, l = lane.get()] { Run(*l); });
  return absl::OkStatus();
}

std::vector<ObjectStore::QueuedPurge> Purger::Plan(const std::string& new_digest,
                                             const segmenter::ObjectRef& ref,
                                             int64_t now_ms) const {
  std::vector<ObjectStore::QueuedPurge> out;
  for (const auto& lane : lanes_) {
    for (segmenter::Format f : {segmenter::Format::kProto, segmenter::Format::kJson}) {
      segmenter::ObjectRef r = ref;
      r.format = f;
      for (const char* encoding : {"gzip", ""}) {
        PendingPurge p;
        p.set_base(lane->base);
        p.set_path(segmenter::ObjectPath(r));
        p.set_accept_encoding(encoding);
        p.set_created_ms(now_ms);
        out.push_back({.key = ObjectStore::PurgeKey(new_digest, p), .purge = std::move(p)});
      }
    }
  }
  return out;
}

bool Purger::HasRoomFor(size_t per_cache) const {
  for (const auto& lane : lanes_) {
    absl::MutexLock lock(&lane->mu);
    if (lane->due.size() + per_cache > options_.max_pending_per_cache) return false;
  }
  return true;
}

void Purger::Enqueue(std::vector<ObjectStore::QueuedPurge> purges) {
  const absl::Time now = absl::Now();
  for (ObjectStore::QueuedPurge& q : purges) {
    Lane* lane = LaneFor(q.purge.base());
    if (lane == nullptr) continue;
    auto e = std::unique_ptr<Entry>(
        new Entry{.queued = std::move(q),
                  .backoff = base::JitteredExponentialBackOff(options_.min_backoff,
                                                              options_.max_backoff)});
    pending_.Add(1);
    {
      absl::MutexLock lock(&lane->mu);
      lane->due.emplace(now, std::move(e));
    }
    lane->cv.Signal();
  }
}

void Purger::Run(Lane& lane) {
  http::CurlEasy easy = http::NewCurlEasy();
  while (std::unique_ptr<Entry> e = NextDue(lane)) {
    if (e->repeat) {
      Send(easy.get(), *e);
    } else if (Send(easy.get(), *e)) {
      Done(*e);
      Repeat(lane, std::move(e));
    } else {
      Retry(lane, std::move(e));
    }
  }
}

std::unique_ptr<Purger::Entry> Purger::NextDue(Lane& lane) {
  absl::MutexLock lock(&lane.mu);
  while (!lane.stop) {
    if (lane.due.empty()) {
      lane.cv.Wait(&lane.mu);
      continue;
    }
    if (lane.due.begin()->first <= absl::Now()) {
      return std::move(lane.due.extract(lane.due.begin()).mapped());
    }
    lane.cv.WaitWithDeadline(&lane.mu, lane.due.begin()->first);
  }
  return nullptr;
}

bool Purger::Send(void* easy, const Entry& e) {
  const PendingPurge& p = e.queued.purge;
  http::ClientRequest req{
      .method = "PURGE",
      .url = absl::StrCat(p.base(), p.path()),
      .headers = {absl::StrCat("Roomcast-Purge-Secret: ", options_.secret)},
      .connect_timeout = options_.timeout,
      .timeout = options_.timeout,
      .shutdown_deadline_ns = &shutdown_ns_};
  if (!p.accept_encoding().empty()) {
    req.headers.push_back(absl::StrCat("Accept-Encoding: ", p.accept_encoding()));
  }
  auto reply = http::Transfer(static_cast<CURL*>(easy), req).Perform();
  const bool done = reply.ok() && (reply->status / 100 == 2 || reply->status == 404);
  const char* result = e.repeat                 ? (done ? "repeated" : "repeat_failed")
                       : !done                    ? "failed"
                       : reply->status == 404     ? "not_cached"
                                                  : "purged";
  metrics_->AddCounter("roomcast_origin_purges_total", "Cache purges by result",
                       {{"result", result}}).Add();
  if (done) {
    ROOMCAST_LOG(kInfo, "origin", "purged")
        .Kv("url", req.url).Kv("accept_encoding", p.accept_encoding())
        .Kv("status", reply->status).Kv("attempts", e.attempts + 1);
  } else {
    ROOMCAST_LOG(kWarning, "origin", "purge_failed")
        .Kv("url", req.url).Kv("accept_encoding", p.accept_encoding())
        .Kv("attempts", e.attempts + 1)
        .Kv("answer", reply.ok() ? absl::StrCat(reply->status) : reply.status().ToString());
  }
  return done;
}

void Purger::Retry(Lane& lane, std::unique_ptr<Entry> e) {
  ++e->attempts;
  const absl::Time at = absl::Now() + absl::FromChrono(e->backoff.NextBackOff());
  {
    absl::MutexLock lock(&lane.mu);
    if (lane.stop) return;  // still owed in the store: resumed on restart
    lane.due.emplace(at, std::move(e));
  }
}

void Purger::Repeat(Lane& lane, std::unique_ptr<Entry> e) {
  if (options_.repeat_after.count() <= 0) return;
  e->repeat = true;
  const absl::Time at = absl::Now() + absl::FromChrono(options_.repeat_after);
  absl::MutexLock lock(&lane.mu);
  if (!lane.stop) lane.due.emplace(at, std::move(e));
}

void Purger::Done(const Entry& e) {
  pending_.Add(-1);
  // If this fails the purge stays stored and is sent again after a
  // restart: one PURGE too many is harmless.
  if (absl::Status s = store_->DeletePurge(e.queued.key); !s.ok()) {
    ROOMCAST_LOG(kWarning, "origin", "purge_not_forgotten")
        .Kv("key", e.queued.key).Kv("status", s);
  }
}

}  // namespace roomcast::origin
