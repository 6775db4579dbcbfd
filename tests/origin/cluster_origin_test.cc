// DESIGN §13's stateless origins: two real roomcast-origin processes started
// with --nats (no --data) on a real 3-node JetStream cluster on loopback
// (tests/support/nats_cluster.h). What one origin stores the other serves
// with the same bytes and headers; an immutable object has one first
// writer across origins; a request held on one origin is answered by a
// PUT through the other; kill -9 of an origin or of a NATS node loses
// nothing stored.
#include <signal.h>

#include <chrono>
#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/jetstream.h"
#include "gtest/gtest.h"
#include "origin/jetstream_store.h"
#include "roomcast/v1/live.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/live.h"
#include "segmenter/segment.h"
#include "tests/origin/origin_fixture.h"
#include "tests/origin/takedown_fixture.h"
#include "tests/support/nats_cluster.h"
#include "tests/support/stream_reader.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using segmenter::BucketIndex;
using segmenter::Encode;
using segmenter::SegmentPath;

constexpr char kImmutable[] = "public, max-age=31536000, immutable";

// A room of its own for each use (the cluster outlives a test, and
// --gtest_repeat runs a test again on it), published by a publisher of its
// own (a watermark only moves forward).
std::string UniqueRoom(const std::string& name) {
  static std::atomic<int> n{0};
  return absl::StrCat(name, "-", n++);
}
std::string PublisherOf(const std::string& room) { return "p-" + room; }

v1::Manifest RoomManifest(const std::string& room, uint64_t version, int64_t opened_ms,
                          int64_t d = 1000, uint32_t retention_s = 86400) {
  v1::Manifest m = MakeManifest(room, version, opened_ms, static_cast<uint32_t>(d), retention_s);
  m.set_publisher(PublisherOf(room));
  return m;
}

// Polls `done` every 20 ms for at most `bound`; its last answer.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds bound = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A roomcast-origin in cluster mode: --nats, and no --data at all.
class ClusterOrigin {
 public:
  ClusterOrigin(const std::vector<std::string>& nats_urls, const std::string& id,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {BinaryPath("roomcast-origin"), "--listen", "127.0.0.1:0",
                                     "--nats", absl::StrJoin(nats_urls, ","), "--origin-id", id};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<Process>(
        argv, std::map<std::string, std::string>{{"ROOMCAST_WRITE_SECRET", kWriteSecret}});
    url_ = proc_->WaitForListening(40s);  // waits for the stream, bounded
  }
  const std::string& url() const { return url_; }
  Process& process() { return *proc_; }

  HttpResponse PutObject(const std::string& path, const std::string& body) const {
    return Put(url_ + path, body,
               {absl::StrCat("Authorization: Bearer ", kWriteSecret),
                "Content-Type: application/x-protobuf"});
  }
  HttpResponse PutManifest(const v1::Manifest& m) const {
    return PutObject(segmenter::ManifestPath(m.room()), Encode(m).bytes);
  }
  HttpResponse PutWatermark(const std::string& publisher, int64_t watermark_ms) const {
    v1::Watermark wm;
    wm.set_publisher(publisher);
    wm.set_watermark_ms(watermark_ms);
    return PutObject(segmenter::WatermarkPath(publisher), wm.SerializeAsString());
  }
  double Held() const { return Metric(url_, "roomcast_origin_held_requests"); }

 private:
  std::unique_ptr<Process> proc_;
  std::string url_;
};

// Opens `room` through `o`: its manifest, and a watermark 20 s back.
void OpenRoomAt(const ClusterOrigin& o, const std::string& room, int64_t opened_ms,
                int64_t d = 1000) {
  ASSERT_EQ(o.PutManifest(RoomManifest(room, 1, opened_ms, d)).status, 200);
  ASSERT_EQ(o.PutWatermark(PublisherOf(room), WallMs() - 20'000).status, 200);
}

// One cluster and two origins for the suite: no test here kills them.
class ClusterOriginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nats_ = new NatsCluster();
    if (!nats_->ready()) return;
    a_ = new ClusterOrigin(nats_->urls(), "origin-a");
    b_ = new ClusterOrigin(nats_->urls(), "origin-b");
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete nats_;
  }
  void SetUp() override {
    ASSERT_TRUE(nats_->ready()) << "the 3-node cluster did not elect a meta leader";
    ASSERT_FALSE(a_->url().empty()) << "origin A did not listen";
    ASSERT_FALSE(b_->url().empty()) << "origin B did not listen";
  }

  // Opens `room` through A and waits until B knows it too.
  void OpenRoom(const std::string& room, int64_t d = 1000) {
    opened_ms_ = WallMs() - 60'000;
    OpenRoomAt(*a_, room, opened_ms_, d);
    if (HasFatalFailure()) return;
    const std::string closed =
        b_->url() + SegmentPath(room, d, BucketIndex(WallMs() - 30'000, d) - 1);
    ASSERT_TRUE(Eventually([&] { return Get(closed).status == 200; }))
        << "B never learnt of room " << room;
  }

  static NatsCluster* nats_;
  static ClusterOrigin* a_;
  static ClusterOrigin* b_;
  int64_t opened_ms_ = 0;
};

NatsCluster* ClusterOriginTest::nats_ = nullptr;
ClusterOrigin* ClusterOriginTest::a_ = nullptr;
ClusterOrigin* ClusterOriginTest::b_ = nullptr;

TEST(ObjectSubjectTest, KeysAndSubjectsRoundTripAndNothingElseIsAKey) {
  for (const std::string key : {"r/lobby/a/00001000/000000001764290000", "q/x-1/m",
                                "w/pub-1", "c/lobby", "t/r/lobby/a/00001000/0001/ab12"}) {
    absl::StatusOr<std::string> subject = origin::ObjectSubject(key);
    ASSERT_TRUE(subject.ok()) << key << ": " << subject.status();
    EXPECT_EQ(subject->find('/'), std::string::npos) << *subject;
    absl::StatusOr<std::string> back = origin::KeyOfSubject(*subject);
    ASSERT_TRUE(back.ok()) << *subject;
    EXPECT_EQ(*back, key);
  }
  EXPECT_EQ(*origin::ObjectSubject("r/lobby/m", "rcnote"), "rcnote.r.lobby.m");
  for (const std::string bad : {"", "r//m", "r/lo.by/m", "r/*/m", "r/>", "r/a b/m", "/r"}) {
    EXPECT_FALSE(origin::ObjectSubject(bad).ok()) << "'" << bad << "'";
  }
  EXPECT_FALSE(origin::KeyOfSubject("rcobj.r.*.m").ok());
  EXPECT_FALSE(origin::KeyOfSubject("other.r.lobby.m").ok());
  EXPECT_FALSE(origin::KeyOfSubject("rcobj.r..m").ok());
}

// Without a cluster to talk to, the origin does not listen: it waits for
// the stream (bounded) and exits 1 saying why. --data is not needed.
TEST(ClusterOriginStartTest, WithoutAReachableClusterItExitsOneWithAReason) {
  RunResult help = testing::Run({BinaryPath("roomcast-origin"), "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE((help.out + help.err).find("--nats"), std::string::npos);
  // Port 1: nothing listens there (tcpmux, never run on a test machine).
  RunResult r = testing::Run({BinaryPath("roomcast-origin"), "--listen", "127.0.0.1:0",
                              "--nats", "nats://127.0.0.1:1", "--nats-startup-timeout-ms", "1500"},
                             {{"ROOMCAST_WRITE_SECRET", kWriteSecret}}, 20s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("roomcast-origin: "), std::string::npos) << r.err;
  RunResult neither = testing::Run({BinaryPath("roomcast-origin"), "--listen", "127.0.0.1:0"},
                                   {{"ROOMCAST_WRITE_SECRET", kWriteSecret}});
  EXPECT_EQ(neither.status, 2);
  EXPECT_NE(neither.err.find("--data is required (or --nats)"), std::string::npos)
      << neither.err;
}

TEST_F(ClusterOriginTest, AnObjectPutThroughAIsServedByBWithTheSameBytesAndHeaders) {
  const std::string room = UniqueRoom("same");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  const std::string path = SegmentPath(room, 1000, k);
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 20)).bytes;
  ASSERT_EQ(a_->PutObject(path, bytes).status, 201);
  for (const Headers& h : {Headers{}, Headers{"Accept-Encoding: gzip"}}) {
    HttpResponse from_a = Get(a_->url() + path, h);
    HttpResponse from_b = Get(b_->url() + path, h);
    ASSERT_EQ(from_a.status, 200);
    ASSERT_EQ(from_b.status, 200);
    EXPECT_EQ(from_b.body, from_a.body);
    for (const char* name : {"etag", "cache-control", "content-type", "content-encoding",
                             "vary", "content-length"}) {
      EXPECT_EQ(from_b.header(name), from_a.header(name)) << name;
    }
    EXPECT_EQ(from_b.header("cache-control"), kImmutable);
  }
  EXPECT_EQ(Get(b_->url() + path).body, bytes);
  HttpResponse json_a = Get(a_->url() + SegmentPath(room, 1000, k, segmenter::Format::kJson));
  HttpResponse json_b = Get(b_->url() + SegmentPath(room, 1000, k, segmenter::Format::kJson));
  EXPECT_EQ(json_b.status, 200);
  EXPECT_EQ(json_b.body, json_a.body);
  EXPECT_EQ(json_b.header("etag"), json_a.header("etag"));
  // The manifest too: B reads what A stored.
  HttpResponse man_a = Get(a_->url() + segmenter::ManifestPath(room));
  HttpResponse man_b = Get(b_->url() + segmenter::ManifestPath(room));
  EXPECT_EQ(man_b.status, 200);
  EXPECT_EQ(man_b.body, man_a.body);
  EXPECT_EQ(man_b.header("etag"), man_a.header("etag"));
}

TEST_F(ClusterOriginTest, AnImmutableObjectHasOneFirstWriterAcrossOrigins) {
  const std::string room = UniqueRoom("first");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs(), 1000) - 10;
  const std::string path = SegmentPath(room, 1000, k);
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 3)).bytes;
  const std::string other = Encode(MakeSegment(room, 1000, k, 4)).bytes;
  ASSERT_EQ(a_->PutObject(path, bytes).status, 201);
  HttpResponse same = b_->PutObject(path, bytes);
  EXPECT_EQ(same.status, 200);  // as a single origin answers an identical PUT
  EXPECT_EQ(same.body, "unchanged\n");
  EXPECT_EQ(b_->PutObject(path, other).status, 409);
  EXPECT_EQ(Get(b_->url() + path).body, bytes);
  EXPECT_EQ(Get(a_->url() + path).body, bytes);

  // Racing: two different first writes of one key at once, one through each
  // origin. Exactly one wins; both origins then serve the winner.
  for (int round = 0; round < 5; ++round) {
    const int64_t j = k - 1 - round;
    const std::string p = SegmentPath(room, 1000, j);
    const std::string x = Encode(MakeSegment(room, 1000, j, 1)).bytes;
    const std::string y = Encode(MakeSegment(room, 1000, j, 2)).bytes;
    auto via_a = std::async(std::launch::async, [&] { return a_->PutObject(p, x).status; });
    auto via_b = std::async(std::launch::async, [&] { return b_->PutObject(p, y).status; });
    const int sa = via_a.get(), sb = via_b.get();
    ASSERT_TRUE((sa == 201 && sb == 409) || (sa == 409 && sb == 201)) << sa << " " << sb;
    const std::string& winner = sa == 201 ? x : y;
    EXPECT_EQ(Get(a_->url() + p).body, winner);
    EXPECT_EQ(Get(b_->url() + p).body, winner);
  }
}

TEST_F(ClusterOriginTest, ARequestHeldOnBIsAnsweredByAPutThroughA) {
  const std::string room = UniqueRoom("held");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;  // ends within 2 s
  const std::string path = SegmentPath(room, 1000, k);
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 5)).bytes;
  const double before = b_->Held();
  auto held = std::async(std::launch::async, [&] { return Get(b_->url() + path); });
  ASSERT_TRUE(Eventually([&] { return b_->Held() >= before + 1; }, 2s));
  ASSERT_EQ(a_->PutObject(path, bytes).status, 201);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, bytes);
  EXPECT_EQ(r.header("cache-control"), kImmutable);
}

TEST_F(ClusterOriginTest, AManifestHeldOnBIsAnsweredByANewerOneThroughA) {
  const std::string room = UniqueRoom("reload");
  OpenRoom(room);
  const std::string url = b_->url() + segmenter::ManifestPath(room) + "?after=1";
  const double before = b_->Held();
  auto held = std::async(std::launch::async, [&] { return Get(url); });
  ASSERT_TRUE(Eventually([&] { return b_->Held() >= before + 1; }, 2s));
  const v1::Manifest next = RoomManifest(room, 2, opened_ms_);
  ASSERT_EQ(a_->PutManifest(next).status, 200);
  HttpResponse r = held.get();
  ASSERT_EQ(r.status, 200);
  v1::Manifest got;
  ASSERT_TRUE(got.ParseFromString(r.body));
  EXPECT_EQ(got.version(), 2u);
}

TEST_F(ClusterOriginTest, AWatermarkThroughAClosesABucketHeldOnB) {
  const std::string room = UniqueRoom("closes");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;
  const double before = b_->Held();
  auto held = std::async(std::launch::async, [&] {
    return Get(b_->url() + SegmentPath(room, 1000, k));
  });
  ASSERT_TRUE(Eventually([&] { return b_->Held() >= before + 1; }, 2s));
  ASSERT_EQ(a_->PutWatermark(PublisherOf(room), segmenter::BucketEnd(k, 1000)).status, 200);
  HttpResponse r = held.get();
  ASSERT_EQ(r.status, 200);
  v1::ActionSegment got;
  ASSERT_TRUE(got.ParseFromString(r.body));
  EXPECT_EQ(got.index(), k);
  EXPECT_EQ(got.messages_size(), 0);
  // A watermark only moves forward, whichever origin is asked.
  EXPECT_EQ(b_->PutWatermark(PublisherOf(room), segmenter::BucketEnd(k, 1000) - 5000).body,
            "unchanged\n");
}

// DESIGN §10 across origins: the publisher pushes an open bucket's records
// to A alone; a viewer streaming that bucket from B gets them as they come,
// and B's stream ends with the stored segment's bytes.
TEST_F(ClusterOriginTest, ALiveStreamOnBReceivesRecordsPostedToA) {
  constexpr int64_t kD = 10000;
  const std::string room = UniqueRoom("live");
  OpenRoom(room, kD);
  const int64_t k = BucketIndex(WallMs(), kD);
  const v1::ActionSegment seg = MakeSegment(room, kD, k, 3);
  std::vector<std::string> records;
  for (const v1::Message& m : seg.messages()) records.push_back(segmenter::EncodeRecord(m));
  StreamReader stream(PortOf(b_->url()), SegmentPath(room, kD, k));
  ASSERT_TRUE(stream.WaitForHead());
  ASSERT_EQ(stream.status(), 200);
  ASSERT_EQ(stream.header("transfer-encoding"), "chunked");

  v1::LiveBatch batch;
  v1::LiveAppend* a = batch.add_appends();
  a->set_room(room);
  a->set_epoch(1);
  a->set_bucket_ms(static_cast<uint32_t>(kD));
  a->set_index(k);
  a->set_first(0);
  a->add_records(records[0]);
  a->add_records(records[1]);
  HttpResponse r = Fetch("POST", a_->url() + "/v1/live", batch.SerializeAsString(),
                         {absl::StrCat("Authorization: Bearer ", kWriteSecret),
                          "Content-Type: application/x-protobuf"});
  ASSERT_EQ(r.status, 200) << r.body;
  v1::LiveReply reply;
  ASSERT_TRUE(reply.ParseFromString(r.body));
  ASSERT_EQ(reply.acks_size(), 1);
  ASSERT_FALSE(reply.acks(0).refused()) << reply.acks(0).reason();
  EXPECT_TRUE(stream.WaitFor([&](const std::string& body) {
    return body == records[0] + records[1];
  })) << "B streamed " << stream.body().size() << " bytes";
  EXPECT_FALSE(stream.ended());

  // The close through A ends B's stream with exactly the stored bytes.
  const std::string pb = segmenter::EncodeSegment(seg);
  ASSERT_EQ(a_->PutObject(SegmentPath(room, kD, k), pb).status, 201);
  ASSERT_TRUE(stream.WaitForFinish());
  EXPECT_TRUE(stream.ended());
  EXPECT_EQ(stream.body(), pb);
}

// An action segment near the publisher's 4 MiB object budget, with its
// gzip copies, is far past NATS' 1 MiB message: stored in parts, served
// whole by the other origin, and as immutable as any other.
TEST_F(ClusterOriginTest, AnObjectLargerThanANatsMessageIsStoredInPartsAndServedByB) {
  const std::string room = UniqueRoom("large");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs() - 10'000, 1000);
  const std::string path = SegmentPath(room, 1000, k);
  auto big = [&](uint32_t seed) {
    v1::ActionSegment seg = MakeSegment(room, 1000, k, 24);
    std::string text(120'000, 'x');
    for (v1::Message& m : *seg.mutable_messages()) {
      for (char& c : text) {  // incompressible: gzip keeps it as large
        seed = seed * 1103515245 + 12345;
        c = static_cast<char>('a' + (seed >> 16) % 26);
      }
      m.mutable_comment()->set_text(text);
    }
    return Encode(seg).bytes;
  };
  const std::string bytes = big(1);
  ASSERT_GT(bytes.size(), 2u << 20);
  ASSERT_EQ(a_->PutObject(path, bytes).status, 201);
  HttpResponse from_b = Get(b_->url() + path);
  ASSERT_EQ(from_b.status, 200);
  EXPECT_TRUE(from_b.body == bytes) << "B served " << from_b.body.size() << " bytes";
  HttpResponse gz_a = Get(a_->url() + path, {"Accept-Encoding: gzip"});
  HttpResponse gz_b = Get(b_->url() + path, {"Accept-Encoding: gzip"});
  EXPECT_EQ(gz_b.header("etag"), gz_a.header("etag"));
  EXPECT_TRUE(gz_b.body == gz_a.body);
  EXPECT_EQ(b_->PutObject(path, bytes).status, 200);
  EXPECT_EQ(b_->PutObject(path, big(2)).status, 409);
  EXPECT_TRUE(Get(a_->url() + path).body == bytes);
}

// DESIGN §11 across origins: a takedown through A replaces the bytes B
// had in memory, and B answers for the record.
TEST_F(ClusterOriginTest, ATakedownThroughAIsServedByBAndItsRetryAnsweredByB) {
  const std::string room = UniqueRoom("takedown");
  OpenRoom(room);
  const int64_t k = BucketIndex(WallMs() - 10'000, 1000);
  const std::string path = SegmentPath(room, 1000, k);
  const v1::ActionSegment seg = MakeSegment(room, 1000, k, 5);
  const segmenter::EncodedObject old = Encode(seg);
  const segmenter::EncodedObject stub = Encode(Stubbed(seg, {2, 4}));
  ASSERT_EQ(a_->PutObject(path, old.bytes).status, 201);
  ASSERT_EQ(Get(b_->url() + path).body, old.bytes);  // now in B's memory
  HttpResponse r = Put(a_->url() + path, stub.bytes, TakedownHeaders(old.digest, "2,4"));
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(Eventually([&] { return Get(b_->url() + path).body == stub.bytes; }))
      << "B kept serving the replaced bytes";
  EXPECT_EQ(Get(b_->url() + path).header("etag"), "\"" + stub.digest + "\"");
  HttpResponse retry = Put(b_->url() + path, stub.bytes, TakedownHeaders(old.digest, "2,4"));
  EXPECT_EQ(retry.status, 200) << retry.body;
  EXPECT_NE(retry.body.find("\"new_digest\":\"" + stub.digest + "\""), std::string::npos);
  EXPECT_EQ(b_->PutObject(path, old.bytes).status, 409);
  HttpResponse list = Get(b_->url() + "/v1/rooms/" + room + "/takedowns",
                          {absl::StrCat("Authorization: Bearer ", kWriteSecret)});
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(stub.digest), std::string::npos) << list.body;
}

// DESIGN §14: once an ended room's retention is over, its objects are
// deleted from the stream and both origins answer 404 with max-age=60; a
// room that lives on keeps every object.
TEST_F(ClusterOriginTest, ARoomPastItsRetentionIsPurgedAndNotFoundOnBothOrigins) {
  ClusterOrigin a(nats_->urls(), "origin-sweeper-a", {"--retention-sweep-s", "1"});
  ClusterOrigin b(nats_->urls(), "origin-sweeper-b", {"--retention-sweep-s", "1"});
  ASSERT_FALSE(a.url().empty());
  ASSERT_FALSE(b.url().empty());
  const std::string room = UniqueRoom("expires");
  const int64_t opened = WallMs() - 60'000;
  ASSERT_EQ(a.PutManifest(RoomManifest(room, 1, opened, 1000, /*retention_s=*/2)).status, 200);
  ASSERT_EQ(a.PutWatermark(PublisherOf(room), WallMs() - 20'000).status, 200);
  const int64_t k = BucketIndex(WallMs() - 10'000, 1000);
  const std::string path = SegmentPath(room, 1000, k);
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 2)).bytes;
  ASSERT_EQ(a.PutObject(path, bytes).status, 201);
  ASSERT_EQ(a.PutWatermark(PublisherOf(room), WallMs() - 5'000).status, 200);  // closed
  ASSERT_TRUE(Eventually([&] { return Get(b.url() + path).body == bytes; }));  // cached on B
  EXPECT_EQ(Get(a.url() + path).body, bytes);
  // A living room of the same publisher, written after the expiring one.
  const std::string kept_room = UniqueRoom("stays");
  ASSERT_EQ(a.PutManifest(RoomManifest(kept_room, 1, opened, 1000)).status, 200);
  const std::string kept_path = SegmentPath(kept_room, 1000, k);
  const std::string kept_bytes = Encode(MakeSegment(kept_room, 1000, k, 3)).bytes;
  ASSERT_EQ(a.PutObject(kept_path, kept_bytes).status, 201);
  ASSERT_EQ(a.PutWatermark(PublisherOf(kept_room), WallMs() - 4'000).status, 200);
  for (ClusterOrigin* o : {&a, &b}) {
    ASSERT_TRUE(Eventually([&] { return Get(o->url() + path).status == 404; }, 15s))
        << "still served after its retention";
    HttpResponse gone = Get(o->url() + path);
    EXPECT_EQ(gone.header("cache-control"), "public, max-age=60");
    EXPECT_EQ(Get(o->url() + segmenter::ManifestPath(room)).status, 404);
  }
  for (ClusterOrigin* o : {&a, &b}) {
    EXPECT_EQ(Get(o->url() + kept_path).body, kept_bytes);
    EXPECT_EQ(Get(o->url() + segmenter::ManifestPath(kept_room)).status, 200);
  }
}

// Notices are at most once, and one that does not say what it must is
// ignored: here a writer stores a room's metadata and watermark with no
// Rc-Meta / Rc-Watermark header. An origin learns them at its next sweep
// (--retention-sweep-s 1); the suite's origins (sweeping every 60 s) do
// not within the test.
TEST_F(ClusterOriginTest, WhatNoNoticeSaidTheNextSweepCatchesUp) {
  ClusterOrigin c(nats_->urls(), "origin-resync", {"--retention-sweep-s", "1"});
  ASSERT_FALSE(c.url().empty());
  auto js = cluster::JetStream::Connect({.urls = nats_->urls()});
  ASSERT_TRUE(js.ok()) << js.status();
  const std::string room = UniqueRoom("quiet");
  origin::RoomMeta meta;
  meta.set_room(room);
  meta.set_epoch(1);
  meta.set_publisher(PublisherOf(room));
  meta.set_bucket_ms(1000);
  meta.set_rollup_ms(60000);
  meta.set_opened_ms(WallMs() - 60'000);
  meta.set_retention_s(86400);
  meta.set_manifest_version(1);
  ASSERT_TRUE((*js)->Publish("rcobj.c." + room, meta.SerializeAsString()).ok());
  v1::Watermark wm;
  wm.set_publisher(PublisherOf(room));
  wm.set_watermark_ms(WallMs() - 20'000);
  ASSERT_TRUE((*js)->Publish("rcobj.w." + PublisherOf(room), wm.SerializeAsString()).ok());
  const std::string path = SegmentPath(room, 1000, BucketIndex(WallMs() - 30'000, 1000));
  EXPECT_TRUE(Eventually([&] { return Get(c.url() + path).status == 200; }, 10s));
  EXPECT_EQ(Get(a_->url() + path).status, 404);  // no notice told it
}

// Origins of their own (one is killed); the suite's cluster is shared.
TEST_F(ClusterOriginTest, AfterKillNineOfOneOriginTheOtherServesEverythingAndHolds) {
  ClusterOrigin a(nats_->urls(), "origin-doomed");
  ClusterOrigin b(nats_->urls(), "origin-survivor");
  ASSERT_FALSE(a.url().empty());
  ASSERT_FALSE(b.url().empty());
  opened_ms_ = WallMs() - 60'000;
  const std::string room = UniqueRoom("orphan");
  OpenRoomAt(a, room, opened_ms_);
  ASSERT_FALSE(HasFatalFailure());
  const int64_t first = BucketIndex(WallMs(), 1000) - 15;
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    bodies.push_back(Encode(MakeSegment(room, 1000, first + i, i + 1)).bytes);
    ASSERT_EQ(a.PutObject(SegmentPath(room, 1000, first + i), bodies.back()).status, 201);
  }
  ASSERT_EQ(a.process().Stop(SIGKILL), 128 + SIGKILL);
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = Get(b.url() + SegmentPath(room, 1000, first + i));
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, bodies[i]) << i;
  }
  EXPECT_EQ(Get(b.url() + segmenter::ManifestPath(room)).status, 200);
  // A held request on the survivor, answered by a PUT through it.
  const int64_t k = BucketIndex(WallMs(), 1000) + 1;
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 2)).bytes;
  auto held = std::async(std::launch::async, [&] {
    return Get(b.url() + SegmentPath(room, 1000, k));
  });
  ASSERT_TRUE(Eventually([&] { return b.Held() >= 1; }, 2s));
  ASSERT_EQ(b.PutObject(SegmentPath(room, 1000, k), bytes).status, 201);
  HttpResponse r = held.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, bytes);
}

// A cluster of its own: it kills the stream's leader.
TEST(ClusterOriginNodeTest, KillNineOfTheStreamLeaderLosesNothingAndWritesComeBack) {
  NatsCluster nats;
  ASSERT_TRUE(nats.ready());
  ClusterOrigin a(nats.urls(), "origin-a");
  ClusterOrigin b(nats.urls(), "origin-b");
  ASSERT_FALSE(a.url().empty());
  ASSERT_FALSE(b.url().empty());
  const int64_t opened = WallMs() - 60'000;
  const std::string room = UniqueRoom("sturdy");
  OpenRoomAt(a, room, opened);
  ASSERT_FALSE(HasFatalFailure());
  const int64_t first = BucketIndex(WallMs(), 1000) - 15;
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    bodies.push_back(Encode(MakeSegment(room, 1000, first + i, i + 1)).bytes);
    ASSERT_EQ(a.PutObject(SegmentPath(room, 1000, first + i), bodies.back()).status, 201);
  }
  for (ClusterOrigin* o : {&a, &b}) {  // read once: now in each origin's memory
    ASSERT_TRUE(Eventually([&] {
      return Get(o->url() + SegmentPath(room, 1000, first)).status == 200;
    }));
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(Get(o->url() + SegmentPath(room, 1000, first + i)).status, 200);
    }
  }
  auto js = cluster::JetStream::Connect({.urls = nats.urls()});
  ASSERT_TRUE(js.ok()) << js.status();
  auto state = (*js)->State(origin::kObjectStream);
  ASSERT_TRUE(state.ok()) << state.status();
  const int leader = nats.IndexOf(state->leader);
  ASSERT_GE(leader, 0) << state->leader;
  nats.Kill(leader);

  // Reads of what each origin served go on through the election.
  for (ClusterOrigin* o : {&a, &b}) {
    for (int i = 0; i < 5; ++i) {
      HttpResponse r = Get(o->url() + SegmentPath(room, 1000, first + i));
      EXPECT_EQ(r.status, 200) << i;
      EXPECT_EQ(r.body, bodies[i]) << i;
    }
  }
  // A write is refused retryably (503 + Retry-After) until a new leader is
  // elected, then succeeds; the other origin then serves it.
  const int64_t k = first + 6;
  const std::string path = SegmentPath(room, 1000, k);
  const std::string bytes = Encode(MakeSegment(room, 1000, k, 9)).bytes;
  int status = 0;
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = b.PutObject(path, bytes);
    status = r.status;
    if (r.status == 503) {
      EXPECT_FALSE(r.header("retry-after").empty());
    }
    return r.status == 201 || r.status == 200;  // 200: an earlier try was stored
  }, 30s)) << "last status " << status;
  ASSERT_TRUE(Eventually([&] { return Get(a.url() + path).body == bytes; }, 10s));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Get(b.url() + SegmentPath(room, 1000, first + i)).body, bodies[i]) << i;
  }
}

}  // namespace
}  // namespace roomcast::testing
