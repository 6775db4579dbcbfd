// The takedown jobs (DESIGN §11), off the request path: for each room with
// a takedown still running, its worker finds the published objects holding
// the taken-down seqs (each seq's segment, and the rollup covering its
// bucket once that is published), GETs each from the origin, replaces the
// messages by stubs (segmenter/takedown.h) and PUTs it with the
// Roomcast-Takedown-* headers (the takedown contract). Before each PUT the
// plan (path, old digest, new digest) is logged, after it the record of the
// `takedowns` component, and after the last object the job's end; so a
// restart resumes each job from the room's log where it was: an object
// whose digest is already the planned new one needs only its record.
//
// It also logs, before their upload, the records of objects the publisher
// renders with stubs after a takedown (Publication's hook, RecordRendered).
//
// One thread; a room's jobs run in id order; a job waiting on the origin
// (an object not uploaded yet, an origin down) is tried again each pass,
// and the room's later jobs go on meanwhile. An object the origin does not
// hold whose bucket is past the room's retention is nothing to take down.
//
//   TakedownRunner runner({}, &clock, &uploader, &sequencer, &rooms, &metrics);
//   runner.Start(rooms.RoomsWithTakedowns());
//   runner.Wake("lobby");   // after a takedown's record is durable
#ifndef ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWN_RUNNER_H_
#define ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWN_RUNNER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "http/metrics.h"
#include "publisher/internal/room.h"
#include "publisher/internal/room_table.h"
#include "publisher/internal/sequencer.h"
#include "publisher/log.pb.h"
#include "publisher/uploader.h"

namespace roomcast::publisher::internal {

class TakedownRunner {
 public:
  struct Options {
    // A job waiting on the origin is tried again after this, doubling with
    // each failure (up to 30 s).
    int64_t retry_ms = 250;
    // Probes of a seq's bucket at the origin when the room no longer knows
    // its time (a binary search over the room's buckets).
    int max_probes = 256;
  };
  TakedownRunner(Options options, const base::Clock* clock, Uploader* uploader,
                 Sequencer* sequencer, RoomTable* rooms, http::Metrics* metrics);
  ~TakedownRunner();  // Stop()

  // Stops the thread (a job in progress stops at its next step). Wake and
  // UploadRendered may still be called: the publisher stops the runner
  // before the log, whose last callbacks may still wake it.
  void Stop();

  // Starts the thread with the rooms whose jobs a restart found.
  void Start(const std::vector<std::string>& rooms);
  void Wake(const std::string& room);
  // One pass over every room with a job, on the caller's thread (tests).
  void RunOnce();

  // Publication's hook for an object rendered with stubs: logs its record
  // (durable on return), then PUTs it as a takedown, or plainly where the
  // origin holds nothing. The upload's status, as Uploader::Put's.
  absl::Status UploadRendered(const std::string& room, const Upload& u);

 private:
  struct Target {
    std::string path;
    std::vector<uint64_t> seqs;  // ascending
    int64_t end_ms = 0;          // its bucket's (or rollup's) end
  };
  // Whether an object ending at `end_ms` is past the room's retention: the
  // origin swept it or will, and it cannot come back.
  bool Expired(const TakedownWork& w, int64_t end_ms) const;
  void Loop();
  // OK once the room has no job left; else why one waits (a job waiting
  // does not hold back the room's others).
  absl::Status RunRoom(const std::string& room);
  absl::Status RunJob(const std::string& room, const TakedownWork& w, const log::TakedownJob& job);
  absl::StatusOr<std::vector<Target>> Targets(const TakedownWork& w,
                                              const log::TakedownJob& job);
  // The bucket holding `seq`: from the job, the manifest's recent segments,
  // or a search of the origin.
  absl::StatusOr<std::optional<int64_t>> BucketOf(const TakedownWork& w,
                                                  const log::TakedownJob& job, uint64_t seq);
  absl::StatusOr<std::optional<int64_t>> SearchOrigin(const TakedownWork& w, uint64_t seq);
  // The segment at `path`: nullopt if the origin has none.
  absl::StatusOr<std::optional<v1::ActionSegment>> Fetch(const std::string& path,
                                                         std::string* bytes);
  absl::Status RunTarget(const TakedownWork& w, const log::TakedownJob& job, const Target& t);
  absl::Status Replace(const std::string& room, const log::TakedownJob& job, const Target& t,
                       const std::string& old_bytes, v1::ActionSegment stubbed,
                       std::vector<uint64_t> changed);
  // Logs `record` (Room-bound prepare) and waits until durable.
  absl::Status Log(const std::string& room, log::Record record, bool stamp);

  const Options options_;
  const base::Clock* const clock_;
  Uploader* const uploader_;
  Sequencer* const sequencer_;
  RoomTable* const rooms_;
  http::Counter& replaced_;
  http::Counter& failed_;
  http::Counter& rendered_;

  // A room's job waiting on the origin: tried again after a backoff
  // doubling from retry_ms up to kMaxRetryMs.
  struct Retry {
    int failures = 0;
    std::chrono::steady_clock::time_point at;
  };
  static constexpr int64_t kMaxRetryMs = 30'000;
  void Failed(const std::string& room, const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_);

  // Segments the searches found, by room: (first_seq, last_seq) -> bucket,
  // so a job's seqs cost one search per segment, not one each pass. The
  // runner's thread only; dropped once a room has no job.
  std::map<std::string, std::map<std::pair<uint64_t, uint64_t>, int64_t>> found_;

  absl::Mutex mu_;
  std::set<std::string> pending_ ABSL_GUARDED_BY(mu_);  // woken: run next pass
  std::map<std::string, Retry> waiting_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The Roomcast-Takedown-* request headers (the takedown contract).
std::vector<std::string> TakedownHeaders(const std::string& old_digest,
                                         const std::vector<uint64_t>& seqs,
                                         const std::string& reason, int64_t at_ms);

}  // namespace roomcast::publisher::internal

#endif  // ROOMCAST_PUBLISHER_INTERNAL_TAKEDOWN_RUNNER_H_
