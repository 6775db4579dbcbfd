// The cache purges a takedown owes (DESIGN §11): `PURGE {base}{path}` with
// the purge secret, for each --purge cache, each rendition (.pb, .json) and
// each encoding variant the reference caches key on (gzip, identity).
//
// Off the request path: the takedown PUT stores its purges with the object
// (ObjectStore::ReplaceForTakedown) and answers; the Purger sends them. One thread
// per cache, so a dead cache never delays another; each purge is retried
// with jittered exponential backoff until the cache answers 2xx or 404
// (nothing cached there), then deleted from the store (and sent once more
// later, for a fill that raced the first). What is still owed
// is loaded again at start-up, so purges survive a kill -9. Each cache's
// queue is bounded: a takedown that would overflow one is refused (503)
// before anything is stored. Internal to origin/.
//
//   Purger purger({.bases = {"http://127.0.0.1:8000"}, .secret = s}, store, &metrics);
//   ROOMCAST_RETURN_IF_ERROR(purger.Start());
//   auto owed = purger.Plan(new_digest, ref, now_ms);  // stored with the object
//   purger.Enqueue(std::move(owed));                   // once stored
#ifndef ROOMCAST_ORIGIN_INTERNAL_PURGER_H_
#define ROOMCAST_ORIGIN_INTERNAL_PURGER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "http/metrics.h"
#include "origin/object_store.h"
#include "segmenter/naming.h"

namespace roomcast::origin {

struct PurgeOptions {
  std::vector<std::string> bases;  // e.g. "http://127.0.0.1:8000"
  std::string secret;              // sent as Roomcast-Purge-Secret
  // Purges owed to one cache at most; a takedown beyond gets 503.
  size_t max_pending_per_cache = 100000;
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds timeout{5000};  // one PURGE, connect included
  // Each purge is sent once more this long after it succeeded: a cache
  // fill that read the old bytes just before the takedown (and so landed
  // after the first PURGE) is removed by the second. Longer than the
  // reference caches' 10 s read timeout. Best effort: not stored, not
  // retried. Zero: no second PURGE.
  std::chrono::milliseconds repeat_after{15000};
};

class Purger {
 public:
  // `store` and `metrics` must outlive the Purger.
  Purger(PurgeOptions options, ObjectStore* store, http::Metrics* metrics);
  // Stops every cache's thread, aborting a PURGE in flight (it stays owed).
  ~Purger();
  Purger(const Purger&) = delete;
  Purger& operator=(const Purger&) = delete;

  // Queues what the store still owes and starts one thread per cache.
  absl::Status Start();
  // The purges a takedown to `new_digest` of the object `ref` owes.
  std::vector<ObjectStore::QueuedPurge> Plan(const std::string& new_digest,
                                       const segmenter::ObjectRef& ref, int64_t now_ms) const;
  // False if some cache's queue has no room for `per_cache` more.
  bool HasRoomFor(size_t per_cache) const;
  // Sends purges the store now holds.
  void Enqueue(std::vector<ObjectStore::QueuedPurge> purges);

 private:
  struct Entry;
  struct Lane;
  void Run(Lane& lane);
  std::unique_ptr<Entry> NextDue(Lane& lane);
  // True once the cache answered 2xx or 404.
  bool Send(void* easy, const Entry& e);
  void Retry(Lane& lane, std::unique_ptr<Entry> e);
  // Queues the second PURGE of one that succeeded.
  void Repeat(Lane& lane, std::unique_ptr<Entry> e);
  void Done(const Entry& e);
  Lane* LaneFor(const std::string& base) const;

  PurgeOptions options_;
  ObjectStore* store_;
  http::Metrics* metrics_;
  http::Gauge& pending_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  // Moved to "now" on shutdown: libcurl aborts a PURGE in flight.
  std::atomic<int64_t> shutdown_ns_{INT64_MAX};
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_INTERNAL_PURGER_H_
