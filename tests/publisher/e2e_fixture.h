// End-to-end fixture: a real roomcast-publisher uploading to a real
// roomcast-origin, both on 127.0.0.1:0 with temporary data directories, and
// what the tests need around them: tokens, JSON posts, the origin's
// watermark, and reading a room's segments back with their invariants
// (DESIGN §7: every ack in exactly one segment, seq order, no gaps).
//
//   TEST_F(PublisherE2eTest, Something) {
//     OpenRoom("lobby", R"({"bucket_ms": 250})");
//     HttpResponse r = PostJson("/v1/rooms/lobby/messages", body, anchor_token);
//     WaitForWatermark(last_ack_end_ms);
//     RoomSegments segs = ReadSegments("lobby", 250, first_k, last_k);
//   }
#ifndef ROOMCAST_TESTS_PUBLISHER_E2E_FIXTURE_H_
#define ROOMCAST_TESTS_PUBLISHER_E2E_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace roomcast::testing {

// A real roomcast-publisher; Start() again after a Stop() reuses the data dir
// (a new port each time). Its stderr goes to a file kept for failure output.
class PublisherProcess {
 public:
  PublisherProcess(std::string data_dir, std::string origin_url,
                   std::vector<std::string> extra = {});
  bool Start();
  int Stop(int signal);
  // Limits for the next Start() (e.g. a file size limit: a full disk).
  void set_limits(ProcessLimits limits) { limits_ = limits; }
  const std::string& url() const { return url_; }
  Process* process() { return proc_.get(); }
  // A series' value (summed over labels) from the running publisher's
  // /metrics; -1 if it does not answer.
  double Metric(const std::string& name) const;
  // The last `bytes` of everything every run wrote to stderr.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  std::string data_dir_;
  std::string origin_url_;
  std::vector<std::string> extra_;
  std::string log_path_;
  ProcessLimits limits_;
  std::unique_ptr<Process> proc_;
  std::string url_;
};

// An HS256 token signed with kJwtSecret, valid for `ttl_s` (negative: expired).
std::string Token(const std::string& sub, v1::Role role, const std::string& room,
                  int64_t ttl_s = 3600);
// Authorization (if `token` is not empty) and a JSON content type.
Headers JsonHeaders(const std::string& token);

// One acknowledgement, as the ingest API returned it.
struct Ack {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  int64_t bucket = 0;
};
// The acks of a 200 reply to a single message or a batch; empty if the body
// is not one.
std::vector<Ack> ParseAcks(const std::string& json_body);
// True if `r` has `status` and a JSON body that is exactly {"error","detail"},
// both non-empty.
::testing::AssertionResult IsJsonError(const HttpResponse& r, long status);

// Every action segment of a room over [first_k, last_k], as fetched.
struct RoomSegments {
  std::map<int64_t, std::string> bytes;
  std::map<int64_t, v1::ActionSegment> segments;
  std::vector<std::string> problems;  // fetch or decode failures
};

// Checks DESIGN §7 invariant 2 over the segments: seq starts at 1 and has no
// gaps across segments; messages are in seq order; every segment's seq range
// equals its kept plus dropped messages; ts_ms lies in the segment's bucket.
::testing::AssertionResult SeqContinuous(const RoomSegments& s);

// The segments' actions, in order: their records without the notices.
std::vector<v1::Message> Actions(const RoomSegments& s);

class PublisherE2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  void StartPublisher(std::vector<std::string> extra = {});

  std::string PublisherUrl(const std::string& path) const;
  HttpResponse PostJson(const std::string& path, const std::string& body,
                        const std::string& token) const;
  // Opens `room` as the service with a JSON open body; asserts a 200.
  void OpenRoom(const std::string& room, const std::string& body);
  // A comment in `room` from audience user `user`; its ack (empty unless 200).
  Ack PostComment(const std::string& room, const std::string& text,
                  const std::string& user = "viewer-1");
  // DELETE …/messages/{seq} as a moderator (expects 200), then waits until
  // the bucket after now, which holds the `retract` record, is published.
  void RetractAndWait(const std::string& room, uint64_t seq, int64_t bucket_ms);
  // The version of component `name` that the origin's manifest of `room`
  // lists (0: none, or no manifest).
  uint64_t ListedVersion(const std::string& room, const std::string& name) const;
  // The origin's watermark for this publisher (-1 if it does not answer).
  int64_t OriginWatermarkMs() const;
  // Waits until the origin's watermark reaches `ms`; false on timeout.
  bool WaitForWatermark(int64_t ms, std::chrono::milliseconds timeout);
  RoomSegments ReadSegments(const std::string& room, int64_t bucket_ms,
                            int64_t first_k, int64_t last_k) const;
  // Waits (20 s at most) until the watermark passes the bucket of now, then
  // reads the room from bucket `first_k` to it.
  RoomSegments ReadAll(const std::string& room, int64_t bucket_ms, int64_t first_k);
  double ImmutableConflicts() const {
    return origin_->Metric("roomcast_origin_immutable_conflicts_total");
  }

  TempDir origin_dir_;
  TempDir publisher_dir_;
  std::unique_ptr<OriginProcess> origin_;
  std::unique_ptr<PublisherProcess> publisher_;
  std::string service_token_;
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_PUBLISHER_E2E_FIXTURE_H_
