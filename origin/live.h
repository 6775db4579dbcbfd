// Open buckets (DESIGN §10): what the origin streams of a bucket before it
// closes. The publisher pushes each bucket's records as they become durable
// (POST /v1/live); every GET of the open bucket streams them, and at close
// the stored segment's summary ends every stream.
//
// In memory only: an origin restart loses every open bucket (the publisher
// then pushes again from record 0, and a stream cut by the restart is asked
// for again by its client). A bucket's chunks are made once per form (.pb
// or .json, identity or gzip), when the first reader of that form comes, and
// shared by every reader: one ChunkGzip per open bucket per rendition,
// whatever the number of readers.
//
//   auto b = live.Find(key);                  // or Create(key, ...)
//   LiveBucket::Cursor c{.form = {kJson, /*gzip=*/true}};
//   LiveBucket::Take t = b->Read(c, sub);     // chunks since the cursor
//   ...
//   live.Close(key, stored_pb);               // from the PUT handler
#ifndef ROOMCAST_ORIGIN_LIVE_H_
#define ROOMCAST_ORIGIN_LIVE_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "segmenter/live.h"

namespace roomcast::origin {

// One open bucket: its records so far and each form's chunks.
class LiveBucket {
 public:
  enum class Phase { kOpen, kClosed, kAborted };
  struct Form {
    segmenter::Rendition rendition = segmenter::Rendition::kPb;
    bool gzip = false;
  };
  using Chunk = std::shared_ptr<const std::string>;
  // A reader's place: which form, how many of its chunks it has.
  struct Cursor {
    Form form;
    size_t next = 0;
    bool tail_sent = false;
  };
  // A parked reader, woken (its timer cancelled on its own executor) when
  // the bucket changes.
  struct Subscriber {
    explicit Subscriber(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    bool signalled = false;  // guarded by the bucket's mutex
  };
  // What a reader may write now: new chunks, and once closed the tail.
  struct Take {
    std::vector<Chunk> chunks;
    Phase phase = Phase::kOpen;
  };

  LiveBucket(int64_t end_ms, int64_t expires_ms) : end_ms_(end_ms), expires_ms_(expires_ms) {}
  // When the bucket ends, and when its streams give up on its close.
  int64_t end_ms() const { return end_ms_; }
  int64_t expires_ms() const { return expires_ms_; }

  // Takes records[i] for positions first.. (each an EncodeRecord span, already
  // checked): the overlap must equal what is held byte for byte
  // (kAlreadyExists otherwise), the rest is appended. Returns how many
  // records are held now. kFailedPrecondition once closed or aborted;
  // kResourceExhausted past `max_bytes`.
  absl::StatusOr<uint32_t> Append(uint32_t first, const std::vector<std::string>& records,
                                  size_t max_bytes);
  // The stored segment: its records must extend the held ones (kAlreadyExists
  // otherwise); the rest are streamed, then its summary ends every form.
  absl::Status Close(absl::string_view stored_pb);
  // Ends every stream without its last chunk.
  void Abort();

  // Chunks of `c.form` since the cursor (advanced); the first Read of a form
  // makes it. With nothing new and the bucket open, `sub` is armed to be
  // woken by the next change.
  Take Read(Cursor& c, const std::shared_ptr<Subscriber>& sub);
  // Arms `sub` to be woken by the next change; false if no longer open.
  bool Subscribe(const std::shared_ptr<Subscriber>& sub);
  void Unsubscribe(const std::shared_ptr<Subscriber>& sub);
  uint32_t records() const;
  bool aborted() const;

 private:
  struct Made {
    bool made = false;
    std::unique_ptr<segmenter::ChunkGzip> gz;
    std::vector<Chunk> chunks;
  };
  static size_t Index(Form f) {
    return (f.rendition == segmenter::Rendition::kJson ? 2 : 0) + (f.gzip ? 1 : 0);
  }
  absl::Status AddRecordLocked(std::string record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ExtendLocked(Form f, Made& m, size_t from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FinishLocked(absl::string_view summary) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MakeLocked(Form f, Made& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t end_ms_;
  const int64_t expires_ms_;
  mutable absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kOpen;
  std::vector<std::string> records_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  Made forms_[4] ABSL_GUARDED_BY(mu_);
  std::string summary_ ABSL_GUARDED_BY(mu_);  // once closed: the tails
  std::string json_tail_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscriber>> subs_ ABSL_GUARDED_BY(mu_);
};

// Every open bucket, by storage key, bounded in number.
class LiveBuckets {
 public:
  explicit LiveBuckets(size_t max_buckets) : max_(max_buckets) {}

  std::shared_ptr<LiveBucket> Find(const std::string& key) const;
  // The bucket at `key`, created (to expire at `expires_ms`) if absent;
  // null if `max_buckets` are open (or after AbortAll).
  std::shared_ptr<LiveBucket> FindOrCreate(const std::string& key, int64_t end_ms,
                                           int64_t expires_ms, bool* created);
  // Closes the bucket with its stored segment and forgets it (no-op if not
  // open). Returns Close's error after aborting the bucket.
  absl::Status Close(const std::string& key, absl::string_view stored_pb);
  void Abort(const std::string& key);
  // Aborts and forgets every bucket that expires at or before `now_ms`.
  size_t AbortExpired(int64_t now_ms);
  // Buckets with an end at or before `end_ms`, oldest first (for the
  // watermark), as keys.
  std::vector<std::string> EndingBy(int64_t end_ms) const;
  // On shutdown: aborts every bucket; none is created after.
  void AbortAll();
  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<LiveBucket> bucket;
    std::multimap<int64_t, std::string>::iterator by_expiry;
    std::multimap<int64_t, std::string>::iterator by_end;
  };
  std::shared_ptr<LiveBucket> TakeLocked(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_;
  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Entry> open_ ABSL_GUARDED_BY(mu_);
  std::multimap<int64_t, std::string> by_expiry_ ABSL_GUARDED_BY(mu_);
  std::multimap<int64_t, std::string> by_end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::origin

#endif  // ROOMCAST_ORIGIN_LIVE_H_
