// A real roomcast-origin on 127.0.0.1:0 with a temporary data directory, and
// builders for the objects a publisher would PUT.
#ifndef ROOMCAST_TESTS_ORIGIN_ORIGIN_FIXTURE_H_
#define ROOMCAST_TESTS_ORIGIN_ORIGIN_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace roomcast::testing {

inline constexpr char kWriteSecret[] = "test-write-secret";
inline constexpr char kJwtSecret[] = "test-jwt-secret";
inline constexpr char kEdgeSecret[] = "test-edge-secret";
inline constexpr char kPublisher[] = "pub-1";

int64_t WallMs();

class OriginProcess {
 public:
  explicit OriginProcess(std::string data_dir, std::vector<std::string> extra = {},
                         ProcessLimits limits = {});
  // Starts (again) on the same data dir; returns false if it did not listen.
  // `listen` may name the port of an earlier run, so that clients (a
  // publisher) keep their URL across a restart.
  bool Start(const std::string& listen = "127.0.0.1:0");
  int Stop(int signal);
  const std::string& url() const { return url_; }
  Process* process() { return proc_.get(); }

  HttpResponse PutObject(const std::string& path, const std::string& body) const;
  HttpResponse PutManifest(const v1::Manifest& m) const;
  HttpResponse PutWatermark(int64_t watermark_ms) const;
  // The value of a metric line "NAME{LABELS} VALUE" summed over label sets
  // containing `label_filter`.
  double Metric(const std::string& name, const std::string& label_filter = "") const;

 private:
  std::string data_dir_;
  std::vector<std::string> extra_;
  ProcessLimits limits_;
  std::unique_ptr<Process> proc_;
  std::string url_;
};

v1::Manifest MakeManifest(const std::string& room, uint64_t version,
                          int64_t opened_ms, uint32_t bucket_ms = 1000,
                          uint32_t retention_s = 86400);
v1::ActionSegment MakeSegment(const std::string& room, int64_t bucket_ms, int64_t k,
                              int comments, uint64_t first_seq = 1);

class OriginTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void StartOrigin(std::vector<std::string> extra = {});
  // Opens room `room` (D = 1000), opened a minute ago, with its manifest and
  // a watermark 20 s back: buckets older than that are closed.
  void OpenRoom(const std::string& room);

  TempDir dir_;
  std::unique_ptr<OriginProcess> origin_;
  int64_t opened_ms_ = 0;
};

}  // namespace roomcast::testing

#endif  // ROOMCAST_TESTS_ORIGIN_ORIGIN_FIXTURE_H_
