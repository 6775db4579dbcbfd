// DESIGN §11 takedown with the real binaries: POST .../takedown as the
// service replaces a published message by its stub in its segment and in
// the rollup covering it (both renditions at the origin), records each
// object in the `takedowns` component, and `roomcast verify` passes over
// the range; other roles get 403 before the body is read, an unknown seq
// 404, a repeat the same takedown (200 once done). A kill -9 of the
// publisher right after the 202 and again in the middle of the job loses
// nothing: after restarts every object holds its stubs, the origin saw no
// immutable conflict, verify passes. Every wait is bounded; none is a sleep.
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/crypto.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "segmenter/takedown.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kD = 250;
constexpr int64_t kR = 1000;

// One record of the `takedowns` component.
struct Record {
  std::string old_digest, new_digest, reason;
  std::set<uint64_t> seqs;
};

class PublisherE2eTakedownTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    // Rollups of 1 s, so a bucket's rollup is published within the test.
    publisher_->Stop(SIGTERM);
    StartPublisher(kPublisherFlags);
  }
  void Restart() {
    ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  }
  HttpResponse Takedown(const std::string& room, const std::vector<uint64_t>& seqs,
                        const std::string& token, const std::string& reason = "court order 7") {
    return PostJson("/v1/rooms/" + room + "/takedown",
                    absl::StrCat(R"({"seqs": [)", absl::StrJoin(seqs, ","),
                                 R"(], "reason": ")", reason, "\"}"),
                    token);
  }
  // Posts one comment per text, in order; their acks.
  std::vector<Ack> Post(const std::string& room, const std::vector<std::string>& texts,
                        const std::string& user = "alice") {
    std::vector<Ack> out;
    const std::string viewer = Token(user, v1::ROLE_AUDIENCE, room);
    for (const std::string& t : texts) {
      HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                                R"({"type": "comment", "text": ")" + t + "\"}", viewer);
      EXPECT_EQ(r.status, 200) << r.body;
      for (const Ack& a : ParseAcks(r.body)) out.push_back(a);
    }
    return out;
  }
  // Waits until the origin has closed every rollup window holding `acks`.
  void WaitPublished(const std::vector<Ack>& acks) {
    int64_t end = 0;
    for (const Ack& a : acks) end = std::max(end, segmenter::BucketEnd(a.ts_ms / kR, kR));
    ASSERT_TRUE(WaitForWatermark(end, 30s));
  }
  std::string Object(const std::string& path) const {
    HttpResponse r = Get(origin_->url() + path);
    return r.status == 200 ? r.body : "";
  }
  // The `takedowns` component at the origin, by path.
  std::map<std::string, Record> Records(const std::string& room) const {
    std::map<std::string, Record> out;
    v1::Manifest m;
    if (!m.ParseFromString(Object(segmenter::ManifestPath(room)))) return out;
    for (const v1::ComponentVersion& c : m.components()) {
      if (c.name() != "takedowns") continue;
      v1::StateComponent sc;
      if (!sc.ParseFromString(Object(
              segmenter::StatePath(room, c.name(), static_cast<int64_t>(c.version()))))) {
        return out;
      }
      for (const auto& v : sc.value().struct_value().fields().at("records").list_value().values()) {
        const auto& f = v.struct_value().fields();
        Record& r = out[f.at("path").string_value()];
        r.old_digest = f.at("old_digest").string_value();
        r.new_digest = f.at("new_digest").string_value();
        r.reason = f.at("reason").string_value();
        for (const auto& s : f.at("seqs").list_value().values()) {
          r.seqs.insert(std::stoull(s.string_value()));
        }
      }
    }
    return out;
  }
  // The paths holding `acks`: each one's segment and rollup.
  static std::set<std::string> PathsOf(const std::string& room, const std::vector<Ack>& acks) {
    std::set<std::string> out;
    for (const Ack& a : acks) {
      out.insert(segmenter::SegmentPath(room, kD, a.bucket));
      out.insert(segmenter::SegmentPath(room, kR, a.ts_ms / kR));
    }
    return out;
  }
  // True once every path holds stubs for `seqs` and its record names its
  // bytes.
  bool AllTakenDown(const std::string& room, const std::set<std::string>& paths,
                    const std::set<uint64_t>& seqs) const {
    const std::map<std::string, Record> records = Records(room);
    for (const std::string& path : paths) {
      const std::string bytes = Object(path);
      v1::ActionSegment seg;
      auto rec = records.find(path);
      if (bytes.empty() || !seg.ParseFromString(bytes) || rec == records.end() ||
          rec->second.new_digest != base::Sha256Hex(bytes)) {
        return false;
      }
      for (const v1::Message& m : seg.messages()) {
        if (seqs.contains(m.seq()) != m.has_redacted()) return false;
      }
    }
    return true;
  }
  bool WaitAllTakenDown(const std::string& room, const std::set<std::string>& paths,
                        const std::set<uint64_t>& seqs) const {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (AllTakenDown(room, paths, seqs)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // `roomcast verify` over [from, to) of `room`.
  RunResult Verify(const std::string& room, int64_t from, int64_t to) const {
    return roomcast::testing::Run({BinaryPath("roomcast"), "verify", "--base", origin_->url(), "--room", room,
                "--from", std::to_string(from), "--to", std::to_string(to)},
               {}, 30s);
  }

  const std::vector<std::string> kPublisherFlags = {"--rollup-ms", std::to_string(kR)};
};

TEST_F(PublisherE2eTakedownTest, ReplacesAPublishedMessageInItsSegmentAndRollup) {
  const std::string room = "td-one";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t from = WallMs();
  std::vector<Ack> acks = Post(room, {"before", "secret-takedown-4711", "after"});
  ASSERT_EQ(acks.size(), 3u);
  WaitPublished(acks);
  const Ack bad = acks[1];
  const std::string seg_path = segmenter::SegmentPath(room, kD, bad.bucket);
  const std::string rollup_path = segmenter::SegmentPath(room, kR, bad.ts_ms / kR);
  std::map<std::string, std::string> before;
  for (const std::string& p : {seg_path, rollup_path}) before[p] = Object(p);
  ASSERT_NE(before[rollup_path], "") << "the rollup is published";

  HttpResponse r = Takedown(room, {bad.seq}, service_token_);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.body, absl::StrCat(R"({"takedown":1,"seqs":[)", bad.seq, "]}\n"));
  ASSERT_TRUE(WaitAllTakenDown(room, {seg_path, rollup_path}, {bad.seq}))
      << publisher_->LogTail();

  const std::map<std::string, Record> records = Records(room);
  for (const std::string& p : {seg_path, rollup_path}) {
    SCOPED_TRACE(p);
    // Exactly the stub in place of the message, everything else as it was.
    v1::ActionSegment want, got;
    ASSERT_TRUE(want.ParseFromString(before[p]));
    ASSERT_EQ(segmenter::StubMessages(&want, std::vector<uint64_t>{bad.seq}),
              std::vector<uint64_t>{bad.seq});
    const std::string now = Object(p);
    EXPECT_EQ(now, segmenter::SerializeDeterministic(want));
    ASSERT_TRUE(got.ParseFromString(now));
    EXPECT_EQ(records.at(p).old_digest, base::Sha256Hex(before[p]));
    EXPECT_EQ(records.at(p).new_digest, base::Sha256Hex(now));
    EXPECT_EQ(records.at(p).reason, "court order 7");
    EXPECT_EQ(records.at(p).seqs, std::set<uint64_t>{bad.seq});
    const std::string json = Get(origin_->url() + absl::StrReplaceAll(p, {{".pb", ".json"}})).body;
    EXPECT_FALSE(absl::StrContains(json, "secret-takedown")) << json;
    EXPECT_TRUE(absl::StrContains(json, "\"redacted\"")) << json;
    EXPECT_TRUE(absl::StrContains(json, "after")) << json;
  }
  // The manifest names the segment's new digest once it is republished.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto listed = [&] {
    v1::Manifest m;
    if (!m.ParseFromString(Object(segmenter::ManifestPath(room)))) return std::string();
    for (const v1::SegmentRef& ref : m.recent_segments()) {
      if (ref.index() == bad.bucket) return ref.digest();
    }
    return std::string();
  };
  while (listed() != records.at(seg_path).new_digest && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(listed(), records.at(seg_path).new_digest);
  // A repeat: the same takedown, done (200).
  HttpResponse again = Takedown(room, {bad.seq}, service_token_);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(absl::StrContains(again.body, "\"takedown\":1")) << again.body;

  RunResult v = Verify(room, from, segmenter::BucketEnd(bad.ts_ms / kR, kR));
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_TRUE(absl::StrContains(v.out, "takedown stubs")) << v.out;
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eTakedownTest, ARollupBuiltAfterTheTakedownHoldsTheStubToo) {
  constexpr int64_t kLongR = 4000;
  publisher_->Stop(SIGTERM);
  StartPublisher({"--rollup-ms", std::to_string(kLongR)});
  const std::string room = "td-late";
  OpenRoom(room, R"({"bucket_ms": 250})");
  // Post early in a rollup window, so the takedown comes before it ends.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (WallMs() % kLongR > 500 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  const int64_t from = WallMs();
  std::vector<Ack> acks = Post(room, {"secret-late-rollup", "fine"});
  ASSERT_EQ(acks.size(), 2u);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks[1].bucket, kD), 30s));
  HttpResponse r = Takedown(room, {acks[0].seq}, service_token_);
  ASSERT_EQ(r.status, 202) << r.body;
  const int64_t window_end = segmenter::BucketEnd(acks[0].ts_ms / kLongR, kLongR);
  const bool before_rollup = WallMs() < window_end - 500;
  const std::set<std::string> paths = {segmenter::SegmentPath(room, kD, acks[0].bucket),
                                       segmenter::SegmentPath(room, kLongR, acks[0].ts_ms / kLongR)};
  ASSERT_TRUE(WaitForWatermark(window_end, 30s));
  ASSERT_TRUE(WaitAllTakenDown(room, paths, {acks[0].seq})) << publisher_->LogTail();
  if (before_rollup) {
    // The rollup was built with the stub: one object rendered so, and only
    // the segment replaced at the origin.
    EXPECT_EQ(publisher_->Metric("roomcast_publisher_takedown_rendered_total"), 1);
    EXPECT_EQ(publisher_->Metric("roomcast_publisher_takedown_objects_total"), 1);
  }
  RunResult v = Verify(room, from, window_end);
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eTakedownTest, OnlyTheServiceAndOnlyKnownSeqs) {
  const std::string room = "td-auth";
  OpenRoom(room, R"({"bucket_ms": 250})");
  std::vector<Ack> acks = Post(room, {"one"});
  ASSERT_EQ(acks.size(), 1u);
  for (v1::Role role : {v1::ROLE_AUDIENCE, v1::ROLE_MODERATOR, v1::ROLE_ANCHOR}) {
    HttpResponse r = Takedown(room, {acks[0].seq}, Token("someone", role, room));
    EXPECT_TRUE(IsJsonError(r, 403)) << r.status << " " << r.body;
  }
  // Refused from the headers: a body past the takedown limit is never read.
  const std::string huge = absl::StrCat(R"({"seqs": [1], "reason": ")", std::string(200000, 'x'),
                                        "\"}");
  HttpResponse big = PostJson("/v1/rooms/" + room + "/takedown", huge,
                              Token("someone", v1::ROLE_AUDIENCE, room));
  EXPECT_TRUE(IsJsonError(big, 403)) << big.status;
  EXPECT_TRUE(IsJsonError(Takedown(room, {acks[0].seq + 100}, service_token_), 404));
  EXPECT_TRUE(IsJsonError(Takedown(room, {0}, service_token_), 404));
  EXPECT_TRUE(IsJsonError(Takedown("td-nowhere", {1}, service_token_), 404));
  std::vector<uint64_t> many(1001, acks[0].seq);
  EXPECT_TRUE(IsJsonError(Takedown(room, many, service_token_), 400));
  EXPECT_TRUE(IsJsonError(Takedown(room, {acks[0].seq}, service_token_, std::string(513, 'r')),
                          400));
  EXPECT_TRUE(IsJsonError(PostJson("/v1/rooms/" + room + "/takedown", "{not json", service_token_),
                          400));
  // The public record is the publisher's alone: no one forges it.
  HttpResponse forged = Fetch("PUT", PublisherUrl("/v1/rooms/" + room + "/state/takedowns"),
                              R"({"records": []})", JsonHeaders(service_token_));
  EXPECT_TRUE(IsJsonError(forged, 403)) << forged.status << " " << forged.body;
}

TEST_F(PublisherE2eTakedownTest, AnUnpublishedMessageIsRetractedBeforePublication) {
  const std::string room = "td-open";
  OpenRoom(room, R"({"bucket_ms": 250, "review_delay_ms": 3000})");
  std::vector<Ack> acks = Post(room, {"secret-unpublished-99", "kept"});
  ASSERT_EQ(acks.size(), 2u);
  HttpResponse r = Takedown(room, {acks[0].seq}, service_token_);
  ASSERT_EQ(r.status, 200) << r.body;  // nothing to replace: done once durable
  WaitPublished(acks);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks[1].ts_ms / kR, kR) + 3000, 30s));
  RoomSegments segs = ReadSegments(room, kD, acks[0].bucket, acks[1].bucket);
  EXPECT_TRUE(segs.problems.empty());
  EXPECT_TRUE(SeqContinuous(segs));
  const v1::ActionSegment& first = segs.segments[acks[0].bucket];
  EXPECT_EQ(std::vector<uint64_t>(first.retracted().begin(), first.retracted().end()),
            std::vector<uint64_t>{acks[0].seq});
  for (const std::string& p : PathsOf(room, acks)) {
    for (segmenter::Format f : {segmenter::Format::kProto, segmenter::Format::kJson}) {
      const std::string body =
          Get(origin_->url() + (f == segmenter::Format::kJson
                                    ? absl::StrReplaceAll(p, {{".pb", ".json"}})
                                    : p))
              .body;
      EXPECT_FALSE(absl::StrContains(body, "secret-unpublished")) << p;
    }
  }
  EXPECT_EQ(ImmutableConflicts(), 0);
}

TEST_F(PublisherE2eTakedownTest, KillNineDuringATakedownLosesNothing) {
  const std::string room = "td-crash";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const int64_t from = WallMs();
  // Messages spread over many buckets (and at least two rollup windows).
  std::vector<Ack> acks;
  while (acks.empty() || acks.back().bucket - acks.front().bucket < 8) {
    // Each from a user of its own: one user's rate limit is not the subject.
    std::vector<Ack> more = Post(room, {absl::StrFormat("takedown-me-%03d", acks.size())},
                                 absl::StrCat("viewer", acks.size()));
    ASSERT_EQ(more.size(), 1u);
    acks.push_back(more[0]);
    std::this_thread::sleep_for(20ms);  // pacing the traffic, not a wait on state
  }
  WaitPublished(acks);
  std::set<uint64_t> seqs;
  std::vector<uint64_t> list;
  for (const Ack& a : acks) {
    if (a.seq % 2 == 1) list.push_back(a.seq), seqs.insert(a.seq);
  }
  std::vector<Ack> taken;
  for (const Ack& a : acks) {
    if (seqs.contains(a.seq)) taken.push_back(a);
  }
  const std::set<std::string> paths = PathsOf(room, taken);

  HttpResponse r = Takedown(room, list, service_token_);
  ASSERT_EQ(r.status, 202) << r.body;
  publisher_->Stop(SIGKILL);  // right after the 202
  Restart();
  // Then again in the middle: once some object is replaced.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (Records(room).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  publisher_->Stop(SIGKILL);
  Restart();
  ASSERT_TRUE(WaitAllTakenDown(room, paths, seqs)) << publisher_->LogTail();
  for (const std::string& p : paths) {
    const std::string bytes = Object(p);
    for (uint64_t seq : seqs) {
      EXPECT_FALSE(absl::StrContains(bytes, absl::StrFormat("takedown-me-%03d", seq - 1))) << p;
    }
  }
  RunResult v = Verify(room, from, segmenter::BucketEnd(acks.back().ts_ms / kR, kR));
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_EQ(ImmutableConflicts(), 0);
  // Nothing acknowledged went missing: seqs still run without a gap.
  RoomSegments segs = ReadSegments(room, kD, acks.front().bucket, acks.back().bucket);
  EXPECT_TRUE(segs.problems.empty());
  EXPECT_TRUE(SeqContinuous(segs));
}

}  // namespace
}  // namespace roomcast::testing
