// A stand-in for roomcast-publisher in client and CLI tests: sequences one
// room's actions, state and peer messages into the segmenter's RoomCloser
// (the code the publisher closes rooms with) and, on a timer, PUTs what
// closed to a real origin in the publisher's order (objects, then the
// manifest, then the watermark). Small buckets keep tests short.
#ifndef ROOMCAST_TESTS_CLIENT_SYNTHETIC_PUBLISHER_H_
#define ROOMCAST_TESTS_CLIENT_SYNTHETIC_PUBLISHER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "roomcast/v1/message.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/room_closer.h"
#include "tests/origin/origin_fixture.h"

namespace roomcast::testing {

class SyntheticPublisher {
 public:
  struct Options {
    std::string room = "lobby";
    int64_t bucket_ms = 250;
    int64_t rollup_ms = 0;  // 0: no rollups
    std::string hint_secret = "room-hint-secret";
    bool private_room = false;  // objects under /v1/private/ (DESIGN §12)
  };
  SyntheticPublisher(const OriginProcess& origin, Options options);
  ~SyntheticPublisher();

  // The room's manifest path (under /v1/private/ for a private room).
  std::string ManifestPath() const;
  // Opens the room (manifest and watermark uploaded) and starts closing
  // buckets every bucket_ms.
  void Start();
  void Stop();

  // Accepts a comment now; returns it as sequenced (seq, ts_ms).
  v1::Message Post(const std::string& text);
  // A moderator's `retract` record for `seq` (already published).
  v1::Message Retract(uint64_t seq);
  // A takedown's stub as a stored object holds it (DESIGN §11): only seq
  // and ts_ms, body `redacted`.
  v1::Message Stub();
  // Sets a component to a string value; returns its new partial version.
  uint64_t SetState(const std::string& name, const std::string& value);
  // Sets a component to any JSON value; its partial version (0 on failure).
  uint64_t SetStateValue(const std::string& name, const google::protobuf::Value& value);
  // A peer message to `user` in the current bucket.
  v1::Message Peer(const std::string& user, const std::string& text);
  // Re-creates the room: a new epoch, seqs from 1, empty state.
  void Recreate();
  // Holds back closing (a stalled publisher) or resumes.
  void SetPaused(bool paused) { paused_ = paused; }
  // Fault: the next non-empty segment is listed in the manifest but never
  // uploaded, so the origin serves its bucket empty once closed (lost data).
  void LoseNextSegment() { lose_segments_ = 1; }

  // Blocks until everything posted so far is uploaded and its bucket closed.
  bool WaitPublished(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  uint64_t epoch() const;
  std::vector<v1::Message> posted() const;  // this epoch's actions
  int upload_failures() const { return failures_; }
  const Options& options() const { return options_; }

 private:
  struct Upload {
    std::string path;
    std::string bytes;
  };
  void Tick();
  size_t OpenActionsLocked() const;
  void NewEpoch(int64_t now_ms);
  std::vector<Upload> CloseLocked(int64_t watermark_ms, int64_t now_ms);

  const OriginProcess& origin_;
  Options options_;
  std::thread ticker_;
  std::atomic<bool> done_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> failures_{0};
  std::atomic<int> lose_segments_{0};

  mutable std::mutex mu_;
  uint64_t epoch_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t next_peer_seq_ = 1;
  int64_t watermark_ms_ = 0;    // uploaded
  uint64_t uploaded_seq_ = 0;   // every seq up to it is closed and uploaded
  uint64_t uploaded_version_ = 0;
  bool uploading_ = false;  // a tick's PUTs are under way
  segmenter::MonotonicStamper stamper_;
  std::unique_ptr<segmenter::RoomCloser> room_;  // this epoch's
  std::vector<v1::Message> posted_;
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_CLIENT_SYNTHETIC_PUBLISHER_H_
