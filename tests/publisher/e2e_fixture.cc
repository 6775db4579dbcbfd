#include "tests/publisher/e2e_fixture.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "absl/time/clock.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/messages.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"

namespace roomcast::testing {
namespace {

bool ParseJson(const std::string& body, google::protobuf::Message* m,
               bool ignore_unknown) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = ignore_unknown;
  return google::protobuf::util::JsonStringToMessage(body, m, o).ok();
}

}  // namespace

PublisherProcess::PublisherProcess(std::string data_dir, std::string origin_url,
                                   std::vector<std::string> extra)
    : data_dir_(std::move(data_dir)),
      origin_url_(std::move(origin_url)),
      extra_(std::move(extra)),
      log_path_(data_dir_ + ".stderr.log") {}

bool PublisherProcess::Start() {
  std::vector<std::string> argv = {BinaryPath("roomcast-publisher"), "--listen",
                                   "127.0.0.1:0", "--data", data_dir_, "--origin",
                                   origin_url_, "--id", kPublisher};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<Process>(
      argv,
      std::map<std::string, std::string>{{"ROOMCAST_WRITE_SECRET", kWriteSecret},
                                         {"ROOMCAST_JWT_SECRET", kJwtSecret}},
      log_path_, limits_);
  url_ = proc_->WaitForListening();
  return !url_.empty();
}

int PublisherProcess::Stop(int signal) { return proc_->Stop(signal); }

double PublisherProcess::Metric(const std::string& name) const {
  return testing::Metric(url_, name);
}

std::string PublisherProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

std::string Token(const std::string& sub, v1::Role role, const std::string& room,
                  int64_t ttl_s) {
  return auth::MintJwt({.sub = sub, .role = role, .room = room,
                        .exp = WallMs() / 1000 + ttl_s},
                       kJwtSecret);
}

Headers JsonHeaders(const std::string& token) {
  Headers h = {"Content-Type: application/json"};
  if (!token.empty()) h.push_back("Authorization: Bearer " + token);
  return h;
}

std::vector<Ack> ParseAcks(const std::string& body) {
  std::vector<Ack> out;
  v1::PostMessagesResponse batch;
  v1::PostResult one;
  if (body.find("\"results\"") != std::string::npos && ParseJson(body, &batch, false)) {
    for (const v1::PostResult& r : batch.results()) {
      out.push_back({.seq = r.seq(), .ts_ms = r.ts_ms(), .bucket = r.bucket()});
    }
  } else if (ParseJson(body, &one, false) && one.seq() != 0) {
    out.push_back({.seq = one.seq(), .ts_ms = one.ts_ms(), .bucket = one.bucket()});
  }
  return out;
}

::testing::AssertionResult IsJsonError(const HttpResponse& r, long status) {
  if (r.status != status) {
    return ::testing::AssertionFailure()
           << "status " << r.status << ", expected " << status << "; body " << r.body;
  }
  if (r.header("content-type").rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure() << "content-type " << r.header("content-type");
  }
  v1::ErrorReply e;
  if (!ParseJson(r.body, &e, false) || e.error().empty() || e.detail().empty()) {
    return ::testing::AssertionFailure() << "not a JSON {error, detail}: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SeqContinuous(const RoomSegments& s) {
  uint64_t next = 1;
  for (const auto& [k, seg] : s.segments) {
    // Notices (seq 0, DESIGN §10) are records but not actions.
    int notices = 0;
    for (const v1::Message& m : seg.messages()) notices += segmenter::IsNotice(m) ? 1 : 0;
    const uint64_t kept = static_cast<uint64_t>(seg.messages_size() - notices);
    if (seg.last_seq() == 0) {
      if (kept != 0 || !seg.dropped().empty()) {
        return ::testing::AssertionFailure() << "bucket " << k << ": no seq range but content";
      }
      continue;
    }
    if (seg.first_seq() != next) {
      return ::testing::AssertionFailure()
             << "bucket " << k << " starts at seq " << seg.first_seq() << ", expected " << next;
    }
    uint64_t dropped = 0;
    for (const auto& [type, n] : seg.dropped()) dropped += n;
    const uint64_t retracted = static_cast<uint64_t>(seg.retracted_size());
    if (seg.last_seq() - seg.first_seq() + 1 != kept + dropped + retracted) {
      return ::testing::AssertionFailure()
             << "bucket " << k << ": seq range " << seg.first_seq() << ".." << seg.last_seq()
             << " but " << kept << " kept + " << dropped << " dropped + " << retracted
             << " retracted";
    }
    uint64_t prev = 0;
    for (const v1::Message& m : seg.messages()) {
      if (segmenter::IsNotice(m) && m.seq() == 0) continue;
      if (m.seq() <= prev || m.seq() < seg.first_seq() || m.seq() > seg.last_seq()) {
        return ::testing::AssertionFailure() << "bucket " << k << ": seq " << m.seq()
                                             << " out of order or range";
      }
      if (segmenter::BucketIndex(m.ts_ms(), seg.bucket_ms()) != k) {
        return ::testing::AssertionFailure()
               << "bucket " << k << ": seq " << m.seq() << " has ts " << m.ts_ms();
      }
      prev = m.seq();
    }
    next = seg.last_seq() + 1;
  }
  return ::testing::AssertionSuccess();
}

std::vector<v1::Message> Actions(const RoomSegments& s) {
  std::vector<v1::Message> out;
  for (const auto& [k, seg] : s.segments) {
    for (const v1::Message& m : seg.messages()) {
      if (!segmenter::IsNotice(m)) out.push_back(m);
    }
  }
  return out;
}

void PublisherE2eTest::SetUp() {
  origin_ = std::make_unique<OriginProcess>(origin_dir_.path());
  ASSERT_TRUE(origin_->Start()) << "roomcast-origin did not start";
  service_token_ = Token("backend", v1::ROLE_SERVICE, "*");
  StartPublisher();
}

void PublisherE2eTest::StartPublisher(std::vector<std::string> extra) {
  publisher_ = std::make_unique<PublisherProcess>(publisher_dir_.path() + "/log",
                                                  origin_->url(), std::move(extra));
  ASSERT_TRUE(publisher_->Start()) << "roomcast-publisher did not start:\n"
                                   << publisher_->LogTail();
}

void PublisherE2eTest::TearDown() {
  if (HasFailure() && publisher_) {
    std::cerr << "--- publisher stderr (tail) ---\n" << publisher_->LogTail() << std::endl;
  }
  if (publisher_ && publisher_->process()->running()) publisher_->Stop(SIGTERM);
  if (origin_ && origin_->process()->running()) origin_->Stop(SIGTERM);
}

std::string PublisherE2eTest::PublisherUrl(const std::string& path) const {
  return publisher_->url() + path;
}

HttpResponse PublisherE2eTest::PostJson(const std::string& path, const std::string& body,
                                        const std::string& token) const {
  return Fetch("POST", PublisherUrl(path), body, JsonHeaders(token));
}

Ack PublisherE2eTest::PostComment(const std::string& room, const std::string& text,
                                  const std::string& user) {
  HttpResponse r = PostJson(absl::StrCat("/v1/rooms/", room, "/messages"),
                            absl::StrCat(R"({"type":"comment","text":")", text, R"("})"),
                            Token(user, v1::ROLE_AUDIENCE, room, 600));
  std::vector<Ack> acks = ParseAcks(r.body);
  EXPECT_EQ(r.status, 200) << r.body;
  return acks.size() == 1 ? acks[0] : Ack{};
}

void PublisherE2eTest::RetractAndWait(const std::string& room, uint64_t seq, int64_t bucket_ms) {
  HttpResponse r = Fetch("DELETE", PublisherUrl(absl::StrCat("/v1/rooms/", room, "/messages/", seq)),
                         "", JsonHeaders(Token("mod-1", v1::ROLE_MODERATOR, room, 600)));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(WaitForWatermark(absl::ToUnixMillis(absl::Now()) + bucket_ms,
                               std::chrono::seconds(5)));
}

uint64_t PublisherE2eTest::ListedVersion(const std::string& room, const std::string& name) const {
  v1::Manifest m;
  HttpResponse r = Get(origin_->url() + segmenter::ManifestPath(room));
  if (r.status != 200 || !m.ParseFromString(r.body)) return 0;
  for (const v1::ComponentVersion& c : m.components()) {
    if (c.name() == name) return c.version();
  }
  return 0;
}

void PublisherE2eTest::OpenRoom(const std::string& room, const std::string& body) {
  HttpResponse r = PostJson("/v1/rooms/" + room, body, service_token_);
  ASSERT_EQ(r.status, 200) << r.body;
}

int64_t PublisherE2eTest::OriginWatermarkMs() const {
  HttpResponse r = Get(origin_->url() + segmenter::WatermarkPath(kPublisher));
  v1::Watermark w;
  if (r.status != 200 || !ParseJson(r.body, &w, true)) return -1;
  return w.watermark_ms();
}

bool PublisherE2eTest::WaitForWatermark(int64_t ms, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (OriginWatermarkMs() >= ms) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

RoomSegments PublisherE2eTest::ReadAll(const std::string& room, int64_t bucket_ms,
                                       int64_t first_k) {
  const int64_t last_k = segmenter::BucketIndex(WallMs(), bucket_ms);
  EXPECT_TRUE(WaitForWatermark(segmenter::BucketEnd(last_k, bucket_ms),
                               std::chrono::seconds(20)))
      << "the watermark stays at " << OriginWatermarkMs();
  return ReadSegments(room, bucket_ms, first_k, last_k);
}

RoomSegments PublisherE2eTest::ReadSegments(const std::string& room, int64_t bucket_ms,
                                            int64_t first_k, int64_t last_k) const {
  RoomSegments out;
  for (int64_t k = first_k; k <= last_k; ++k) {
    HttpResponse r = Get(origin_->url() + segmenter::SegmentPath(room, bucket_ms, k));
    v1::ActionSegment seg;
    if (r.status != 200 || !seg.ParseFromString(r.body)) {
      out.problems.push_back(absl::StrCat("bucket ", k, ": status ", r.status));
      continue;
    }
    out.bytes[k] = r.body;
    out.segments[k] = std::move(seg);
  }
  return out;
}

}  // namespace roomcast::testing
