// The real `roomcast` binary against a real origin: inspect, replay, verify
// and tail with their output checked, --help and exit codes (DESIGN §8).
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/segment.h"
#include "segmenter/takedown.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/process.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

std::string Rfc3339(int64_t ms) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

class CliTest : public OriginTest {
 protected:
  void StartPublisher(SyntheticPublisher::Options o = {}) {
    pub_ = std::make_unique<SyntheticPublisher>(*origin_, o);
    pub_->Start();
  }
  void TearDown() override {
    if (pub_) pub_->Stop();
  }
  // A hand-made room of D = 1000 whose buckets k0.. hold segments with the
  // given seq ranges (first, last), closed long ago.
  int64_t HandMadeRoom(const std::string& room,
                       std::vector<std::pair<uint64_t, uint64_t>> ranges,
                       bool wrong_digest_in_manifest = false,
                       const std::set<uint64_t>& retracted = {}) {
    const int64_t now = WallMs();
    const int64_t k0 = segmenter::BucketIndex(now - 50'000, 1000);
    v1::Manifest m = MakeManifest(room, 1, now - 60'000);
    for (size_t i = 0; i < ranges.size(); ++i) {
      const auto [first, last] = ranges[i];
      v1::ActionSegment s =
          MakeSegment(room, 1000, k0 + static_cast<int64_t>(i), static_cast<int>(last - first + 1), first);
      // Retracted before publication: only the seq is left (DESIGN §11).
      v1::ActionSegment kept = s;
      kept.clear_messages();
      for (const v1::Message& msg : s.messages()) {
        if (retracted.contains(msg.seq())) {
          kept.add_retracted(msg.seq());
        } else {
          *kept.add_messages() = msg;
        }
      }
      s = std::move(kept);
      segmenter::EncodedObject obj = segmenter::Encode(s);
      EXPECT_EQ(origin_->PutObject(segmenter::SegmentPath(room, 1000, s.index()), obj.bytes).status, 201);
      v1::SegmentRef* ref = m.add_recent_segments();
      ref->set_index(s.index());
      ref->set_first_seq(first);
      ref->set_last_seq(last);
      ref->set_digest(wrong_digest_in_manifest ? std::string(64, '0') : obj.digest);
    }
    m.set_last_seq(ranges.back().second);
    EXPECT_EQ(origin_->PutManifest(m).status, 200);
    EXPECT_EQ(origin_->PutWatermark(now - 20'000).status, 200);
    return k0;
  }
  RunResult VerifyRoom(const std::string& room, int64_t k0, int buckets) {
    return Cli({"verify", "--base", origin_->url(), "--room", room, "--from", Rfc3339(k0 * 1000),
                "--to", Rfc3339((k0 + buckets) * 1000)});
  }
  std::unique_ptr<SyntheticPublisher> pub_;
};

TEST_F(CliTest, HelpExitsZeroAndBadUsageExitsTwo) {
  EXPECT_EQ(Cli({"--help"}).status, 0);
  for (const char* verb : {"tail", "replay", "inspect", "verify"}) {
    RunResult r = Cli({verb, "--help"});
    EXPECT_EQ(r.status, 0) << verb;
    EXPECT_TRUE(absl::StrContains(r.out, std::string("Usage: roomcast ") + verb)) << r.out;
  }
  EXPECT_EQ(Cli({}).status, 2);
  EXPECT_EQ(Cli({"frobnicate"}).status, 2);
  EXPECT_EQ(Cli({"tail", "--room", "lobby"}).status, 2);  // no --base
  EXPECT_EQ(Cli({"inspect"}).status, 2);
  EXPECT_EQ(Cli({"tail", "--base", origin_->url(), "--room", "lobby", "--bogus"}).status, 2);
  RunResult bad_time = Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from",
                            "yesterday", "--to", "now"});
  EXPECT_EQ(bad_time.status, 2);
  EXPECT_TRUE(absl::StrContains(bad_time.err, "bad TIME 'yesterday'")) << bad_time.err;
  EXPECT_EQ(Cli({"verify", "--base", origin_->url(), "--room", "lobby", "--from", "now", "--to",
                 "-1h"}).status, 2);
  EXPECT_EQ(Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from", "-1m", "--to",
                 "now", "--speed", "3"}).status, 2);
}

TEST_F(CliTest, FailureExitsOneWithAOneLineReason) {
  RunResult r = Cli({"replay", "--base", "http://127.0.0.1:1", "--room", "lobby", "--from", "-1m",
                     "--to", "now"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  RunResult missing = Cli({"inspect", origin_->url() + "/v1/rooms/nobody/manifest.pb"});
  EXPECT_EQ(missing.status, 1);
}

TEST_F(CliTest, InspectDecodesAFileAndAUrlToJson) {
  StartPublisher();
  pub_->Post("one");
  pub_->Post("two");
  pub_->SetState("title", "hello");
  ASSERT_TRUE(pub_->WaitPublished());

  RunResult manifest = Cli({"inspect", origin_->url() + "/v1/rooms/lobby/manifest.pb"});
  ASSERT_EQ(manifest.status, 0) << manifest.err;
  EXPECT_TRUE(absl::StrContains(manifest.out, "\"room\":\"lobby\"")) << manifest.out;
  EXPECT_TRUE(absl::StrContains(manifest.out, "\"last_seq\":\"2\"")) << manifest.out;

  RunResult state = Cli({"inspect", origin_->url() + "/v1/rooms/lobby/state/title/1.pb"});
  ASSERT_EQ(state.status, 0) << state.err;
  EXPECT_TRUE(absl::StrContains(state.out, "\"value\":\"hello\"")) << state.out;

  // A file with no roomcast path: the type is found from the bytes.
  const int64_t k = segmenter::BucketIndex(pub_->posted()[0].ts_ms(), 250);
  HttpResponse seg = Get(origin_->url() + segmenter::SegmentPath("lobby", 250, k));
  ASSERT_EQ(seg.status, 200);
  const std::string file = dir_.path() + "/some-object.bin";
  std::ofstream(file, std::ios::binary) << seg.body;
  RunResult decoded = Cli({"inspect", file});
  ASSERT_EQ(decoded.status, 0) << decoded.err;
  EXPECT_TRUE(absl::StrContains(decoded.out, "\"text\":\"one\"")) << decoded.out;
  EXPECT_TRUE(absl::StrContains(decoded.out, "\"first_seq\":\"1\"")) << decoded.out;
}

TEST_F(CliTest, ReplayAndVerifyReadPastARollupCutShortByItsBudget) {
  // A whole 60 s window of D = 1000, closed long ago, whose rollup was cut
  // short by its byte budget after a third of its buckets.
  const int64_t now = WallMs();
  const int64_t w = segmenter::BucketIndex(now - 200'000, 60'000);
  std::vector<v1::ActionSegment> buckets;
  for (int i = 0; i < 60; ++i) {
    buckets.push_back(MakeSegment("lobby", 1000, w * 60 + i, 2, 1 + 2 * i));
    ASSERT_EQ(origin_->PutObject(segmenter::SegmentPath("lobby", 1000, w * 60 + i),
                                 segmenter::Encode(buckets.back()).bytes).status, 201);
  }
  const int64_t budget = static_cast<int64_t>(buckets[0].ByteSizeLong()) * 20;
  auto rollup = segmenter::BuildRollup(60'000, w, buckets, budget);
  ASSERT_TRUE(rollup.ok() && rollup->has_last_bucket());
  ASSERT_LT(rollup->last_bucket(), w * 60 + 59);
  ASSERT_EQ(origin_->PutObject(segmenter::SegmentPath("lobby", 60'000, w),
                               segmenter::Encode(*rollup).bytes).status, 201);
  v1::Manifest m = MakeManifest("lobby", 1, now - 300'000);
  m.set_last_seq(120);
  ASSERT_EQ(origin_->PutManifest(m).status, 200);
  ASSERT_EQ(origin_->PutWatermark(now - 20'000).status, 200);

  RunResult r = Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from",
                     Rfc3339(w * 60'000), "--to", Rfc3339((w + 1) * 60'000), "--speed", "max",
                     "--format", "jsonl"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 120u) << r.err;
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::Message msg;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &msg).ok());
    EXPECT_EQ(msg.seq(), i + 1) << "each action once, in seq order";
  }
  RunResult v = Cli({"verify", "--base", origin_->url(), "--room", "lobby", "--from",
                     Rfc3339(w * 60'000), "--to", Rfc3339((w + 1) * 60'000)});
  EXPECT_EQ(v.status, 0) << v.out << v.err;
}

TEST_F(CliTest, ReplayOfAKnownRangeEqualsWhatWasPostedUsingRollups) {
  StartPublisher({.bucket_ms = 250, .rollup_ms = 1000});
  for (int i = 0; i < 24; ++i) {
    pub_->Post("message " + std::to_string(i));
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(pub_->WaitPublished());
  std::this_thread::sleep_for(1s);  // the last rollup window closes
  const std::vector<v1::Message> posted = pub_->posted();
  const int64_t from = posted.front().ts_ms(), to = posted.back().ts_ms() + 1;
  const double gets_before =
      origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"200\"");

  RunResult r = Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from",
                     Rfc3339(from), "--to", Rfc3339(to), "--speed", "max", "--format", "jsonl"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), posted.size()) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::Message m;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &m).ok()) << lines[i];
    EXPECT_EQ(segmenter::SerializeDeterministic(m), segmenter::SerializeDeterministic(posted[i]))
        << lines[i];
  }
  const double gets =
      origin_->Metric("roomcast_origin_requests_total", "class=\"actions\",status=\"200\"") -
      gets_before;
  const int64_t buckets = segmenter::BucketIndex(to - 1, 250) - segmenter::BucketIndex(from, 250) + 1;
  EXPECT_LT(gets, buckets) << "whole seconds should come from rollups";

  // Relative times and text: the same actions, one line each.
  RunResult text = Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from", "-60s",
                        "--to", "now"});
  ASSERT_EQ(text.status, 0) << text.err;
  std::vector<std::string> text_lines = Lines(text.out);
  ASSERT_EQ(text_lines.size(), posted.size());
  EXPECT_TRUE(absl::StrContains(text_lines[3], "#4 viewer-1: message 3")) << text_lines[3];
}

TEST_F(CliTest, VerifyPassesOnAGoodRoom) {
  StartPublisher({.bucket_ms = 250, .rollup_ms = 1000});
  for (int i = 0; i < 12; ++i) {
    pub_->Post("message " + std::to_string(i));
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(pub_->WaitPublished());
  RunResult r = Cli({"verify", "--base", origin_->url(), "--room", "lobby", "--from", "-10s",
                     "--to", "now"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "12 actions, seqs 1..12")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "OK")) << r.out;

  const int64_t k0 = HandMadeRoom("tidy", {{1, 3}, {4, 6}, {7, 9}});
  RunResult tidy = VerifyRoom("tidy", k0, 4);
  EXPECT_EQ(tidy.status, 0) << tidy.out;
}

TEST_F(CliTest, VerifyCountsSeqsRetractedBeforePublication) {
  const int64_t k0 = HandMadeRoom("moderated", {{1, 3}, {4, 6}}, false, {2, 4, 5});
  RunResult r = VerifyRoom("moderated", k0, 3);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "OK")) << r.out;
}

TEST_F(CliTest, VerifyFailsOnSegmentsThatOverlap) {
  const int64_t k0 = HandMadeRoom("overlap", {{1, 3}, {4, 6}, {6, 8}});
  RunResult r = VerifyRoom("overlap", k0, 4);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "overlap: seqs 6..6 are also in bucket")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "seq 6 is also in bucket")) << r.out;
}

TEST_F(CliTest, VerifyFailsOnAGapInSeqs) {
  const int64_t k0 = HandMadeRoom("gappy", {{1, 3}, {7, 9}});
  RunResult r = VerifyRoom("gappy", k0, 3);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "gap: seqs 4..6 are in no segment")) << r.out;
}

TEST_F(CliTest, VerifyFailsWhenTheManifestDigestDiffers) {
  const int64_t k0 = HandMadeRoom("digest", {{1, 3}, {4, 6}}, /*wrong_digest_in_manifest=*/true);
  RunResult r = VerifyRoom("digest", k0, 2);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "digest differs from the manifest's")) << r.out;
}

// A hand-made room of D = 1000 whose bucket k0 holds seqs 1..3 with 2
// taken down (a stub) and k0+1 holds 4..6, as a takedown leaves them; the
// manifest still names bucket k0's old digest. Its `takedowns` component
// holds `records` (path, old digest, new digest), none if empty.
enum class TakedownRecord { kNone, kMatching, kWrongDigest, kForOtherBytes };
int64_t TakenDownRoom(const OriginProcess& origin, const std::string& room, TakedownRecord rec) {
  const int64_t now = WallMs();
  const int64_t k0 = segmenter::BucketIndex(now - 50'000, 1000);
  v1::Manifest m = MakeManifest(room, 1, now - 60'000);
  std::string paths[2], old_digests[2], new_digests[2];
  for (int i = 0; i < 2; ++i) {
    v1::ActionSegment s = MakeSegment(room, 1000, k0 + i, 3, 1 + 3 * i);
    old_digests[i] = segmenter::Encode(s).digest;
    if (i == 0) segmenter::StubMessages(&s, std::vector<uint64_t>{2});
    const segmenter::EncodedObject obj = segmenter::Encode(s);
    new_digests[i] = obj.digest;
    paths[i] = segmenter::SegmentPath(room, 1000, s.index());
    EXPECT_EQ(origin.PutObject(paths[i], obj.bytes).status, 201);
    v1::SegmentRef* ref = m.add_recent_segments();
    ref->set_index(s.index());
    ref->set_first_seq(s.first_seq());
    ref->set_last_seq(s.last_seq());
    ref->set_digest(old_digests[i]);
  }
  m.set_last_seq(6);
  if (rec != TakedownRecord::kNone) {
    google::protobuf::Value records;
    auto* list = (*records.mutable_struct_value()->mutable_fields())["records"].mutable_list_value();
    auto& f = *list->add_values()->mutable_struct_value()->mutable_fields();
    // kForOtherBytes: a record for bucket k0+1, which holds no stub.
    const int i = rec == TakedownRecord::kForOtherBytes ? 1 : 0;
    f["path"].set_string_value(paths[i]);
    f["old_digest"].set_string_value(old_digests[i]);
    f["new_digest"].set_string_value(rec == TakedownRecord::kWrongDigest ? std::string(64, 'a')
                                     : rec == TakedownRecord::kForOtherBytes ? std::string(64, 'b')
                                                                             : new_digests[i]);
    f["at_ms"].set_number_value(static_cast<double>(now));
    f["reason"].set_string_value("court order");
    v1::StateComponent c;
    c.set_room(room);
    c.set_epoch(1);
    c.set_name("takedowns");
    c.set_version(1);
    c.set_total_version(1);
    *c.mutable_value() = records;
    EXPECT_EQ(origin.PutObject(segmenter::StatePath(room, "takedowns", 1), segmenter::Encode(c).bytes)
                  .status,
              201);
    v1::ComponentVersion* v = m.add_components();
    v->set_name("takedowns");
    v->set_version(1);
  }
  EXPECT_EQ(origin.PutManifest(m).status, 200);
  EXPECT_EQ(origin.PutWatermark(now - 20'000).status, 200);
  return k0;
}

TEST_F(CliTest, VerifyAcceptsStubsOnlyWithATakedownRecordOfTheirBytes) {
  const int64_t k0 = TakenDownRoom(*origin_, "taken", TakedownRecord::kMatching);
  RunResult ok = VerifyRoom("taken", k0, 2);
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_TRUE(absl::StrContains(ok.out, "6 actions, seqs 1..6 (1 takedown stubs")) << ok.out;

  for (auto [room, rec] : {std::pair{"unrecorded", TakedownRecord::kNone},
                           std::pair{"misrecorded", TakedownRecord::kWrongDigest}}) {
    const int64_t k = TakenDownRoom(*origin_, room, rec);
    RunResult bad = VerifyRoom(room, k, 2);
    EXPECT_EQ(bad.status, 1) << room << bad.out;
    EXPECT_TRUE(absl::StrContains(bad.out, "holds takedown stubs but no takedown record"))
        << bad.out;
    EXPECT_TRUE(absl::StrContains(bad.out, "digest differs from the manifest's")) << bad.out;
  }
}

TEST_F(CliTest, VerifyFailsOnATakedownRecordItsObjectDoesNotMatch) {
  const int64_t k0 = TakenDownRoom(*origin_, "stray", TakedownRecord::kForOtherBytes);
  RunResult r = VerifyRoom("stray", k0, 2);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "a takedown record names it, but its bytes are not"))
      << r.out;
}

TEST_F(CliTest, TailPrintsEachLiveActionOnce) {
  StartPublisher();
  RunResult r = TailWhilePosting({"--base", origin_->url(), "--room", "lobby"}, {}, *pub_);
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<v1::Message> got = JsonMessages(r.out);
  ASSERT_EQ(got.size(), 3u) << r.out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].seq(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(got[i].comment().text(), "live " + std::to_string(i));
  }
}

TEST_F(CliTest, TailShowsRetractedForAMessageItPrinted) {
  StartPublisher();
  auto tail = std::async(std::launch::async, [&] {
    return Cli({"tail", "--base", origin_->url(), "--room", "lobby", "--count", "2",
                "--duration-ms", "8000"},
               {}, 15s);
  });
  std::this_thread::sleep_for(1500ms);  // joined by now
  // Delivered in seq order, so the message is printed before its retraction
  // arrives, whichever buckets they land in.
  const v1::Message shown = pub_->Post("regrettable");
  pub_->Retract(shown.seq());
  pub_->Retract(999);  // never printed: nothing to say
  pub_->Post("fine");
  RunResult r = tail.get();
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_TRUE(absl::StrContains(lines[0], "viewer-1: regrettable")) << lines[0];
  EXPECT_EQ(lines[1], "[retracted #" + std::to_string(shown.seq()) + "]");
  EXPECT_TRUE(absl::StrContains(lines[2], "viewer-1: fine")) << lines[2];
}

// A takedown's stub (DESIGN §11) keeps its seq, so replay reads on past it
// without a gap, and prints neither it nor anything of it.
TEST_F(CliTest, ReplayNeverPrintsATakedownStub) {
  StartPublisher();
  const v1::Message a = pub_->Post("alpha");
  const v1::Message stub = pub_->Stub();
  const v1::Message c = pub_->Post("charlie");
  ASSERT_TRUE(pub_->WaitPublished());
  for (const char* format : {"text", "jsonl"}) {
    RunResult r = Cli({"replay", "--base", origin_->url(), "--room", "lobby", "--from",
                       Rfc3339(a.ts_ms()), "--to", Rfc3339(c.ts_ms() + 1), "--format", format});
    ASSERT_EQ(r.status, 0) << r.err;  // no gap at the stub's seq
    std::vector<std::string> lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    EXPECT_TRUE(absl::StrContains(lines[0], "alpha")) << r.out;
    EXPECT_TRUE(absl::StrContains(lines[1], "charlie")) << r.out;
    EXPECT_FALSE(absl::StrContains(r.out, "taken down")) << r.out;
    EXPECT_FALSE(absl::StrContains(r.out, "redacted")) << r.out;
    EXPECT_FALSE(absl::StrContains(r.out, "#" + std::to_string(stub.seq()) + " ")) << r.out;
  }
}

}  // namespace
}  // namespace roomcast::testing
