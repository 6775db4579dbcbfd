// The publisher against hostile senders, through the real roomcast-publisher
// and roomcast-origin (issue "No sender, object, disk or connection can stop
// the publisher or another room"): what cannot be logged, published and
// rendered is refused before it is acked, with a clear 4xx; the process
// stays alive and restartable; every other room keeps closing its buckets.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "roomcast/v1/ingest.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kBucketMs = 250;

// A protobuf varint.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// A custom MessageInput whose data (a Struct) holds `depth` nested groups of
// an unknown field: what made the log record unreplayable.
std::string PoisonInput(int depth) {
  std::string groups;
  for (int i = 0; i < depth; ++i) groups += Varint((99 << 3) | 3);  // start group
  for (int i = 0; i < depth; ++i) groups += Varint((99 << 3) | 4);  // end group
  std::string in = Varint((1 << 3) | 2) + Varint(8) + "custom:x";
  in += Varint((5 << 3) | 2) + Varint(groups.size()) + groups;
  return in;
}

class PublisherE2eHostileTest : public PublisherE2eTest {
 protected:
  HttpResponse PostProto(const std::string& room, const std::string& body,
                         const std::string& token) {
    return Fetch("POST", PublisherUrl("/v1/rooms/" + room + "/messages"), body,
                 {"Authorization: Bearer " + token, "Content-Type: application/x-protobuf"});
  }
  // A room with traffic that must keep closing buckets whatever the others do.
  int64_t PostToBystander() {
    HttpResponse r = PostJson("/v1/rooms/bystander/messages", R"({"type":"comment","text":"still here"})",
                              Token("anchor", v1::ROLE_ANCHOR, "bystander"));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.empty() ? 0 : acks[0].bucket;
  }
  void ExpectBystanderCloses() {
    const int64_t k = PostToBystander();
    ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(k, kBucketMs), 10s))
        << "the watermark stalled at " << OriginWatermarkMs() << "\n" << publisher_->LogTail();
    HttpResponse seg = Get(origin_->url() + segmenter::SegmentPath("bystander", kBucketMs, k));
    EXPECT_EQ(seg.status, 200);
  }
  void OpenBoth() {
    OpenRoom("hostile", R"({"bucket_ms": 250})");
    OpenRoom("bystander", R"({"bucket_ms": 250})");
  }
};

TEST_F(PublisherE2eHostileTest, PoisonRecordIsRefusedBeforeTheAckAndNothingStalls) {
  OpenBoth();
  const std::string audience = Token("mallory", v1::ROLE_AUDIENCE, "hostile");
  for (int depth : {97, 98, 300}) {
    HttpResponse r = PostProto("hostile", PoisonInput(depth), audience);
    EXPECT_TRUE(IsJsonError(r, 400)) << depth << ": " << r.status << " " << r.body;
  }
  // A batch holding it, and unknown fields at the top level, likewise.
  v1::PostMessagesRequest batch;
  batch.add_messages()->set_type("comment");
  batch.mutable_messages(0)->set_text("fine");
  std::string with_unknown = batch.SerializeAsString() + Varint((77 << 3) | 0) + Varint(1);
  EXPECT_TRUE(IsJsonError(PostProto("hostile", with_unknown, audience), 400));
  ExpectBystanderCloses();
  // And the publisher restarts: nothing unreplayable was logged.
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  ExpectBystanderCloses();
}

TEST_F(PublisherE2eHostileTest, DeepJsonIsRefusedByAScanBeforeAnyParse) {
  OpenBoth();
  const std::string audience = Token("mallory", v1::ROLE_AUDIENCE, "hostile");
  // 12,000 levels in custom data (24 KB): took seconds to refuse, parsed twice.
  const std::string deep = std::string(12000, '[') + std::string(12000, ']');
  HttpResponse r = PostJson("/v1/rooms/hostile/messages",
                            R"({"type":"custom:x","data":{"a":)" + deep + "}}", audience);
  EXPECT_TRUE(IsJsonError(r, 400)) << r.status << " " << r.body;
  EXPECT_NE(r.body.find("nests"), std::string::npos) << r.body;
  // A whole megabyte of it is refused the same way.
  const std::string meg = std::string(500000, '[') + std::string(500000, ']');
  r = PostJson("/v1/rooms/hostile/messages", R"({"messages":[{"type":"custom:x","data":{"a":)" +
                   meg + "}}]}", audience);
  EXPECT_EQ(r.status, 400) << r.body;
  ExpectBystanderCloses();
}

TEST_F(PublisherE2eHostileTest, DeepHeaderJwtCostsOneMacAndGets401) {
  OpenBoth();
  const std::string header = std::string(3000, '[') + std::string(3000, ']');
  const std::string forged = absl::StrCat(absl::WebSafeBase64Escape(header), ".",
                                          absl::WebSafeBase64Escape("{}"), ".AAAA");
  HttpResponse r = PostJson("/v1/rooms/hostile/messages", R"({"type":"comment","text":"x"})",
                            forged);
  EXPECT_TRUE(IsJsonError(r, 401)) << r.body;
  EXPECT_NE(r.body.find("signature"), std::string::npos) << r.body;
}

TEST_F(PublisherE2eHostileTest, DataThatCouldNotBeRenderedAsJsonIsRefused) {
  OpenBoth();
  const std::string audience = Token("mallory", v1::ROLE_AUDIENCE, "hostile");
  auto nested = [](int levels) {
    return std::string(levels - 1, '[') + "1" + std::string(levels - 1, ']');
  };
  // custom data is level 1; 16 levels in all are allowed, 17 are not.
  HttpResponse ok = PostJson("/v1/rooms/hostile/messages",
                             R"({"type":"custom:x","data":{"a":)" + nested(15) + "}}", audience);
  ASSERT_EQ(ok.status, 200) << ok.body;
  HttpResponse deep = PostJson("/v1/rooms/hostile/messages",
                               R"({"type":"custom:x","data":{"a":)" + nested(33) + "}}", audience);
  EXPECT_TRUE(IsJsonError(deep, 400)) << deep.body;
  // NaN and Infinity have no JSON spelling: refused in protobuf bodies.
  for (double bad : {std::nan(""), double{INFINITY}, -double{INFINITY}}) {
    v1::MessageInput in;
    in.set_type("custom:x");
    (*in.mutable_data()->mutable_fields())["v"].set_number_value(bad);
    EXPECT_TRUE(IsJsonError(PostProto("hostile", in.SerializeAsString(), audience), 400)) << bad;
  }
  // A state value too deep for a snapshot's .json.
  HttpResponse state = Fetch("PUT", PublisherUrl("/v1/rooms/hostile/state/deep"), nested(40),
                             JsonHeaders(Token("host", v1::ROLE_ANCHOR, "hostile")));
  EXPECT_TRUE(IsJsonError(state, 400)) << state.body;
  // What was accepted renders: its bucket's .json answers 200.
  const std::vector<Ack> acks = ParseAcks(ok.body);
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks[0].bucket, kBucketMs), 10s));
  HttpResponse json = Get(origin_->url() + segmenter::SegmentPath("hostile", kBucketMs, acks[0].bucket,
                                                                  segmenter::Format::kJson));
  EXPECT_EQ(json.status, 200) << json.body;
  ExpectBystanderCloses();
}

TEST_F(PublisherE2eHostileTest, BatchLargerThanTheBurstIs413NotA429Forever) {
  OpenBoth();
  std::string batch = R"({"messages":[)";
  for (int i = 0; i < 41; ++i) absl::StrAppend(&batch, i ? "," : "", R"({"type":"like"})");
  HttpResponse r = PostJson("/v1/rooms/hostile/messages", batch + "]}",
                            Token("fan", v1::ROLE_AUDIENCE, "hostile"));
  EXPECT_TRUE(IsJsonError(r, 413)) << r.status << " " << r.body;
  EXPECT_EQ(r.header("retry-after"), "");
}

TEST_F(PublisherE2eHostileTest, PerUserLimitsComeFromFlags) {
  StartPublisher({"--user-rate", "0.5", "--user-burst", "2"});
  OpenBoth();
  const std::string fan = Token("fan", v1::ROLE_AUDIENCE, "hostile");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(PostJson("/v1/rooms/hostile/messages", R"({"type":"like"})", fan).status, 200);
  }
  HttpResponse limited = PostJson("/v1/rooms/hostile/messages", R"({"type":"like"})", fan);
  EXPECT_TRUE(IsJsonError(limited, 429)) << limited.body;
  EXPECT_EQ(limited.header("retry-after"), "2");
}

TEST_F(PublisherE2eHostileTest, PresenceHeartbeatsAreRateLimited) {
  OpenBoth();
  const std::string fan = Token("fan", v1::ROLE_AUDIENCE, "hostile");
  int ok = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = PostJson("/v1/rooms/hostile/presence", "", fan);
    if (r.status == 200) ++ok;
    if (r.status == 429 && !r.header("retry-after").empty()) ++limited;
  }
  EXPECT_GE(ok, 1);
  EXPECT_LE(ok, 6) << "burst 5, about one a second";
  EXPECT_EQ(ok + limited, 20);
}

TEST_F(PublisherE2eHostileTest, UnauthenticatedBodyIsNotReadBeforeThe401) {
  OpenBoth();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(PortOf(publisher_->url())));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string head =
      "POST /v1/rooms/hostile/messages HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000000\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[512];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  close(fd);
  ASSERT_GT(n, 0) << "no answer before the body was sent";
  EXPECT_TRUE(std::string(buf, static_cast<size_t>(n)).starts_with("HTTP/1.1 401"));
}

TEST_F(PublisherE2eHostileTest, OverweightBucketIsSampledToItsBudgetAndTheOriginTakesIt) {
  OpenRoom("hostile", R"({"bucket_ms": 5000})");
  OpenRoom("bystander", R"({"bucket_ms": 250})");
  // An anchor (never rate-limited) posts about 8 MB of 8 KB custom messages
  // into one 5 s bucket: before, a 16+ MB segment the origin refused (413),
  // and the publisher-wide watermark waited for it forever.
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, "hostile");
  const std::string data = std::string(7800, 'y');
  std::vector<Ack> acks;
  for (int post = 0; post < 10; ++post) {
    std::string batch = R"({"messages":[)";
    for (int i = 0; i < 100; ++i) {
      absl::StrAppend(&batch, i ? "," : "", R"({"type":"custom:blob","data":{"d":")", data,
                      R"("}})");
    }
    HttpResponse r = PostJson("/v1/rooms/hostile/messages", batch + "]}", anchor);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const Ack& a : ParseAcks(r.body)) acks.push_back(a);
  }
  ExpectBystanderCloses();
  // Every bucket the acks landed in is published, within the budget, with
  // what it left out counted.
  std::map<int64_t, int> per_bucket;
  for (const Ack& a : acks) ++per_bucket[a.bucket];
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(per_bucket.rbegin()->first, 5000), 20s))
      << publisher_->LogTail();
  for (const auto& [k, n] : per_bucket) {
    HttpResponse seg = Get(origin_->url() + segmenter::SegmentPath("hostile", 5000, k));
    ASSERT_EQ(seg.status, 200) << k;
    EXPECT_LE(seg.body.size(), size_t{4 << 20} + 4096);
    v1::ActionSegment parsed;
    ASSERT_TRUE(parsed.ParseFromString(seg.body));
    uint64_t dropped = 0;
    for (const auto& [type, c] : parsed.dropped()) dropped += c;
    EXPECT_EQ(parsed.last_seq() - parsed.first_seq() + 1, parsed.messages_size() + dropped);
    EXPECT_EQ(parsed.last_seq() - parsed.first_seq() + 1, static_cast<uint64_t>(n));
  }
}

TEST_F(PublisherE2eHostileTest, StateThatWouldOutgrowTheSnapshotBudgetIs413) {
  OpenBoth();
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, "hostile");
  const std::string value = "\"" + std::string(60000, 'z') + "\"";
  int accepted = 0, too_large = 0;
  for (int i = 0; i < 40; ++i) {
    HttpResponse r = Fetch("PUT", PublisherUrl(absl::StrCat("/v1/rooms/hostile/state/c", i)),
                           value, JsonHeaders(anchor));
    if (r.status == 200) ++accepted;
    if (IsJsonError(r, 413)) ++too_large;
    if (r.status == 429) std::this_thread::sleep_for(100ms);  // the state-set rate
  }
  EXPECT_GT(accepted, 20);
  EXPECT_GT(too_large, 0);
  ExpectBystanderCloses();
}

TEST_F(PublisherE2eHostileTest, AnObjectTheOriginRefusesStallsOnlyItsRoomUntilItIsTaken) {
  // An origin whose body limit is smaller than what the hostile room makes.
  const std::string origin_at = origin_->url().substr(std::string("http://").size());
  ASSERT_EQ(origin_->Stop(SIGTERM), 0);
  origin_ = std::make_unique<OriginProcess>(origin_dir_.path(),
                                            std::vector<std::string>{"--max-body-bytes", "200000"});
  ASSERT_TRUE(origin_->Start(origin_at));
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  StartPublisher({"--stall-retry-ms", "300"});
  OpenRoom("hostile", R"({"bucket_ms": 1000})");
  OpenRoom("bystander", R"({"bucket_ms": 250})");
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, "hostile");
  std::string batch = R"({"messages":[)";
  for (int i = 0; i < 40; ++i) {
    absl::StrAppend(&batch, i ? "," : "", R"({"type":"custom:blob","data":{"d":")",
                    std::string(7800, 'q'), R"("}})");
  }
  HttpResponse posted = PostJson("/v1/rooms/hostile/messages", batch + "]}", anchor);
  ASSERT_EQ(posted.status, 200) << posted.body;
  const std::vector<Ack> acks = ParseAcks(posted.body);
  const int64_t k = acks.front().bucket;
  // Every other room goes on past the refused bucket.
  ExpectBystanderCloses();
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks.back().bucket, 1000) + 500, 10s));
  // The hostile room says it is stalled; its bucket is not served as empty.
  v1::Manifest m;
  for (int i = 0; i < 100; ++i) {
    HttpResponse r = Get(origin_->url() + segmenter::ManifestPath("hostile"));
    if (r.status == 200 && m.ParseFromString(r.body) && m.status() == v1::ROOM_STATUS_STALLED) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(m.status(), v1::ROOM_STATUS_STALLED);
  EXPECT_GT(m.stalled_from_ms(), 0);
  EXPECT_NE(m.stalled_reason().find("refused"), std::string::npos) << m.stalled_reason();
  HttpResponse seg = Get(origin_->url() + segmenter::SegmentPath("hostile", 1000, k));
  EXPECT_EQ(seg.status, 404);
  EXPECT_EQ(seg.header("cache-control"), "public, max-age=1");
  HttpResponse refused = PostJson("/v1/rooms/hostile/messages", R"({"type":"comment","text":"x"})", anchor);
  EXPECT_TRUE(IsJsonError(refused, 503)) << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  HttpResponse metrics = Get(PublisherUrl("/metrics"));
  EXPECT_NE(metrics.body.find("roomcast_publisher_rooms_stalled 1"), std::string::npos);
  // The operator raises the origin's limit: the refused bucket is taken,
  // the room goes on, nothing acked is lost.
  ASSERT_EQ(origin_->Stop(SIGTERM), 0);
  origin_ = std::make_unique<OriginProcess>(origin_dir_.path());
  ASSERT_TRUE(origin_->Start(origin_at));
  HttpResponse back;
  for (int i = 0; i < 200; ++i) {
    back = Get(origin_->url() + segmenter::SegmentPath("hostile", 1000, k));
    if (back.status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(back.status, 200) << publisher_->LogTail();
  RoomSegments segs = ReadSegments("hostile", 1000, k, acks.back().bucket);
  EXPECT_TRUE(segs.problems.empty()) << segs.problems.front();
  uint64_t held = 0;
  for (const auto& [kk, sg] : segs.segments) held += sg.messages_size();
  EXPECT_EQ(held, acks.size());
  HttpResponse again;
  for (int i = 0; i < 100; ++i) {
    again = PostJson("/v1/rooms/hostile/messages", R"({"type":"comment","text":"back"})", anchor);
    if (again.status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(again.status, 200) << again.body;
}

TEST_F(PublisherE2eHostileTest, ARollupOverItsBudgetStopsEarlyAndReplayReadsTheRest) {
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  StartPublisher({"--rollup-ms", "4000"});
  OpenRoom("hostile", R"({"bucket_ms": 1000})");
  // About 5 MB of actions inside one 4 s rollup window (each bucket under
  // its own budget): before, one rollup object past the origin's limit.
  const int64_t start = WallMs();
  const int64_t w = segmenter::BucketIndex(start, 4000) + 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(w * 4000 - start + 50));
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, "hostile");
  std::vector<Ack> acks;
  for (int post = 0; post < 6; ++post) {
    // Two posts (about 1.7 MB) per 1 s bucket: every bucket within its own
    // budget, the window's three over the rollup's.
    const int64_t bucket_start = w * 4000 + (post / 2) * 1000;
    if (WallMs() < bucket_start) {
      std::this_thread::sleep_for(std::chrono::milliseconds(bucket_start - WallMs() + 20));
    }
    std::string batch = R"({"messages":[)";
    for (int i = 0; i < 110; ++i) {
      absl::StrAppend(&batch, i ? "," : "", R"({"type":"custom:blob","data":{"d":")",
                      std::string(7800, 'r'), R"("}})");
    }
    HttpResponse r = PostJson("/v1/rooms/hostile/messages", batch + "]}", anchor);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const Ack& a : ParseAcks(r.body)) acks.push_back(a);
  }
  ASSERT_LT(acks.back().ts_ms, (w + 1) * 4000) << "the posts took longer than the window";
  ASSERT_TRUE(WaitForWatermark((w + 1) * 4000, 20s)) << publisher_->LogTail();
  HttpResponse rollup;
  for (int i = 0; i < 100 && rollup.status != 200; ++i) {
    rollup = Get(origin_->url() + segmenter::SegmentPath("hostile", 4000, w));
    if (rollup.status != 200) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(rollup.status, 200);
  v1::ActionSegment r;
  ASSERT_TRUE(r.ParseFromString(rollup.body));
  EXPECT_TRUE(r.has_last_bucket());
  EXPECT_LE(rollup.body.size(), size_t{4 << 20} + 4096);
  RunResult replay = roomcast::testing::Run({BinaryPath("roomcast"), "replay", "--base", origin_->url(), "--room",
                          "hostile", "--from", absl::StrCat(w * 4000), "--to",
                          absl::StrCat((w + 1) * 4000), "--speed", "max", "--format", "jsonl"},
                         {}, 30s);
  ASSERT_EQ(replay.status, 0) << replay.err;
  EXPECT_EQ(std::count(replay.out.begin(), replay.out.end(), '\n'),
            static_cast<long>(acks.size()));
}

}  // namespace
}  // namespace roomcast::testing
