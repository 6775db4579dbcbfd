#include "tests/origin/origin_fixture.h"

#include <signal.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "segmenter/bucketer.h"
#include "segmenter/segment.h"

namespace roomcast::testing {

int64_t WallMs() { return absl::ToUnixMillis(absl::Now()); }

OriginProcess::OriginProcess(std::string data_dir, std::vector<std::string> extra,
                             ProcessLimits limits)
    : data_dir_(std::move(data_dir)), extra_(std::move(extra)), limits_(limits) {}

bool OriginProcess::Start(const std::string& listen) {
  std::vector<std::string> argv = {BinaryPath("roomcast-origin"), "--listen", listen,
                                   "--data", data_dir_};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{
                                              {"ROOMCAST_WRITE_SECRET", kWriteSecret},
                                              {"ROOMCAST_JWT_SECRET", kJwtSecret},
                                              {"ROOMCAST_EDGE_SECRET", kEdgeSecret}},
                                    "", limits_);
  url_ = proc_->WaitForListening();
  return !url_.empty();
}

int OriginProcess::Stop(int signal) { return proc_->Stop(signal); }

HttpResponse OriginProcess::PutObject(const std::string& path,
                                      const std::string& body) const {
  return Put(url_ + path, body,
             {absl::StrCat("Authorization: Bearer ", kWriteSecret),
              "Content-Type: application/x-protobuf"});
}

HttpResponse OriginProcess::PutManifest(const v1::Manifest& m) const {
  return PutObject(segmenter::ManifestPath(m.room()), segmenter::Encode(m).bytes);
}

HttpResponse OriginProcess::PutWatermark(int64_t watermark_ms) const {
  v1::Watermark wm;
  wm.set_publisher(kPublisher);
  wm.set_watermark_ms(watermark_ms);
  return PutObject(segmenter::WatermarkPath(kPublisher), wm.SerializeAsString());
}

double OriginProcess::Metric(const std::string& name,
                             const std::string& label_filter) const {
  return testing::Metric(url_, name, label_filter);
}

v1::Manifest MakeManifest(const std::string& room, uint64_t version,
                          int64_t opened_ms, uint32_t bucket_ms, uint32_t retention_s) {
  v1::Manifest m;
  m.set_room(room);
  m.set_epoch(1);
  m.set_version(version);
  m.set_server_time_ms(WallMs());
  m.mutable_config()->set_bucket_ms(bucket_ms);
  m.mutable_config()->set_rollup_ms(60000);
  m.mutable_config()->set_retention_s(retention_s);
  m.mutable_config()->set_action_cap_per_s(500);
  m.set_status(v1::ROOM_STATUS_LIVE);
  m.set_publisher(kPublisher);
  m.set_opened_ms(opened_ms);
  return m;
}

v1::ActionSegment MakeSegment(const std::string& room, int64_t bucket_ms, int64_t k,
                              int comments, uint64_t first_seq) {
  std::vector<v1::Message> msgs;
  for (int i = 0; i < comments; ++i) {
    v1::Message m;
    m.set_seq(first_seq + i);
    m.set_ts_ms(segmenter::BucketStart(k, bucket_ms) + i);
    m.set_kind(v1::KIND_ACTION);
    m.set_sender("viewer-" + std::to_string(i));
    m.set_role(v1::ROLE_AUDIENCE);
    m.mutable_comment()->set_text("hello number " + std::to_string(i) +
                                  " from the integration test, with some padding");
    msgs.push_back(std::move(m));
  }
  return segmenter::BuildSegment({.room = room, .epoch = 1, .bucket_ms = bucket_ms,
                                  .index = k},
                                 std::move(msgs));
}

void OriginTest::SetUp() { StartOrigin(); }

void OriginTest::StartOrigin(std::vector<std::string> extra) {
  if (origin_ && origin_->process()->running()) origin_->Stop(SIGTERM);
  origin_ = std::make_unique<OriginProcess>(dir_.path(), std::move(extra));
  ASSERT_TRUE(origin_->Start()) << "roomcast-origin did not start";
}

void OriginTest::OpenRoom(const std::string& room) {
  opened_ms_ = WallMs() - 60'000;
  ASSERT_EQ(origin_->PutManifest(MakeManifest(room, 1, opened_ms_)).status, 200);
  ASSERT_EQ(origin_->PutWatermark(WallMs() - 20'000).status, 200);
}

}  // namespace roomcast::testing
