// DESIGN §14 and §15 with the real binaries: the publisher deletes published
// records (checkpoints replace them) and still loses no ack when killed
// right after a trim; and a full disk (here: RLIMIT_FSIZE on the publisher,
// so writes past it fail with EFBIG, as they would with ENOSPC) gets 503s,
// never an ack for an unwritten message, while the process stays alive,
// keeps publishing and writes again once it can.
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "segmenter/bucketer.h"
#include "tests/publisher/e2e_traffic.h"

namespace roomcast::testing {
namespace {

constexpr int64_t kBucketMs = 250;
constexpr char kTrim[] = "roomcast_publisher_log_trim_lsn";

// A batch of `n` comments with texts "<tag>-<i>-" padded to `size` bytes.
std::string Batch(const std::string& tag, int n, size_t size) {
  std::string body = R"({"messages": [)";
  for (int i = 0; i < n; ++i) {
    std::string text = tag + "-" + std::to_string(i) + "-";
    text.resize(std::max(size, text.size()), 'x');
    body += (i ? "," : "") + std::string(R"({"type": "comment", "text": ")") +
            text + "\"}";
  }
  return body + "]}";
}

class PublisherE2eLifecycleTest : public PublisherE2eTest {
 protected:
  RoomSegments ReadAll(const std::string& room, int64_t first_k) {
    return PublisherE2eTest::ReadAll(room, kBucketMs, first_k);
  }
  // Waits until the publisher's trim point passes `lsn`; its value then.
  double WaitForTrimPast(double lsn, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    double now = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      now = publisher_->Metric(kTrim);
      if (now > lsn) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return now;
  }
};

TEST_F(PublisherE2eLifecycleTest, KillNineRightAfterATrimLosesNoAck) {
  const std::string room = "trim-room";
  OpenRoom(room, R"({"bucket_ms": 250, "action_cap_per_s": 0})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  SharedUrl url(publisher_->url());
  Traffic traffic({.room = room,
                   .token = Token("host", v1::ROLE_ANCHOR, room),
                   .threads = 3,
                   .max_batch = 20,
                   .seed = 5},
                  &url);
  Follower follower(origin_->url(), room, kBucketMs, first_k);
  double trim = 1;
  for (int i = 0; i < 4; ++i) {
    const double next = WaitForTrimPast(trim, std::chrono::seconds(20));
    ASSERT_GT(next, trim) << "no trim within 20 s, round " << i << "\n"
                          << publisher_->LogTail();
    trim = next;
    ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
    url.Set(publisher_->url());
    // The trim point is durable: a restart starts from it.
    EXPECT_GE(publisher_->Metric(kTrim), trim);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  traffic.Stop(std::chrono::seconds(10));
  EXPECT_GT(traffic.acks().size(), 500u);
  EXPECT_TRUE(traffic.unacked().empty());
  RoomSegments segs = ReadAll(room, first_k);
  follower.Stop();
  ExpectAllAckedExactlyOnce(segs, traffic, follower);
  EXPECT_EQ(ImmutableConflicts(), 0);
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_log_quarantined_total"), 0);
}

TEST_F(PublisherE2eLifecycleTest, QuietPublisherKeepsNoPublishedRecord) {
  const std::string room = "quiet-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  const std::string body = Batch("q", 100, 8);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(PostJson("/v1/rooms/" + room + "/messages", body, anchor).status,
              200);
  }
  // 1 open + 2000 messages, all published: the trim point passes them all.
  EXPECT_GE(WaitForTrimPast(2001, std::chrono::seconds(20)), 2002);
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  // The room came back from its checkpoint: its seq goes on.
  HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                            R"({"type": "comment", "text": "after"})", anchor);
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<Ack> acks = ParseAcks(r.body);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].seq, 2001u);
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_rooms"), 1);
}

TEST_F(PublisherE2eLifecycleTest, SigtermCheckpointsWhatItPublished) {
  const std::string room = "term-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  const std::string body = Batch("t", 20, 8);
  ASSERT_EQ(PostJson("/v1/rooms/" + room + "/messages", body, anchor).status,
            200);
  // At once: the room is neither quiet nor large enough to be due, so only
  // the stop itself can have checkpointed it.
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  EXPECT_GE(publisher_->Metric(kTrim), 22);  // open + 20: none to replay
}

// The origin is down and a round is retrying it (its budget is a minute):
// SIGTERM still stops the publisher within its flush budget, and what it
// acked is published after the next start.
TEST_F(PublisherE2eLifecycleTest, SigtermWithTheOriginDownStopsWithinTheFlushBudget) {
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  StartPublisher({"--flush-ms", "1000"});
  const std::string room = "down-room";
  OpenRoom(room, R"({"bucket_ms": 250})");
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  ASSERT_TRUE(WaitForWatermark(WallMs(), std::chrono::seconds(10)));
  ASSERT_EQ(origin_->Stop(SIGTERM), 0);
  HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                            R"({"type": "comment", "text": "kept"})", anchor);
  ASSERT_EQ(r.status, 200) << r.body;
  // Long enough for a round to be retrying the closed bucket.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const int status = publisher_->process()->Stop(SIGTERM, std::chrono::seconds(20));
  ASSERT_NE(status, -1) << "still running 20 s after SIGTERM:\n" << publisher_->LogTail();
  EXPECT_NE(publisher_->LogTail().find("flush"), std::string::npos)
      << "the stop should say what it left unpublished:\n" << publisher_->LogTail();
  ASSERT_TRUE(origin_->Start());
  publisher_ = std::make_unique<PublisherProcess>(publisher_dir_.path() + "/log", origin_->url(),
                                                  std::vector<std::string>{});
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  const std::vector<Ack> acks = ParseAcks(r.body);
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_TRUE(WaitForWatermark(acks[0].ts_ms + 2 * kBucketMs, std::chrono::seconds(15)));
  RoomSegments got = ReadAll(room, acks[0].bucket);
  EXPECT_TRUE(got.problems.empty()) << got.problems.front();
  std::vector<std::string> texts;
  for (const auto& [k, seg] : got.segments) {
    for (const v1::Message& m : seg.messages()) texts.push_back(m.comment().text());
  }
  EXPECT_EQ(texts, std::vector<std::string>{"kept"});
}

TEST_F(PublisherE2eLifecycleTest,
       FullDiskAnswers503AndRecoversWithoutLosingAnAck) {
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  publisher_ = std::make_unique<PublisherProcess>(
      publisher_dir_.path() + "/log", origin_->url(),
      std::vector<std::string>{"--max-body-bytes", "4194304"});
  // No file of the publisher may pass 1 MiB: a 1.9 MB batch can never be
  // written, as on a full disk, while small writes fit again once RocksDB
  // has started a new WAL.
  publisher_->set_limits({.file_size_bytes = 1 << 20});
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  const std::string room = "disk-room";
  OpenRoom(room, R"({"bucket_ms": 250, "action_cap_per_s": 0})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  SharedUrl url(publisher_->url());
  // Traffic retries a 503 with the same client_msg_ids: a reply made for a
  // write that failed must never come back as an ack.
  Traffic traffic(
      {.room = room, .token = anchor, .threads = 2, .max_batch = 10, .seed = 9},
      &url);
  Follower follower(origin_->url(), room, kBucketMs, first_k);
  const std::string big = Batch("big", 1000, 1900);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResponse r = PostJson("/v1/rooms/" + room + "/messages", big, anchor);
    EXPECT_TRUE(IsJsonError(r, 503)) << "attempt " << i;
    EXPECT_FALSE(r.header("retry-after").empty()) << "attempt " << i;
  }
  const int64_t acked_after_failures = traffic.acked();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (traffic.acked() < acked_after_failures + 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(traffic.acked(), acked_after_failures + 200)
      << "writes did not come back";
  traffic.Stop(std::chrono::seconds(10));
  ASSERT_TRUE(publisher_->process()->running()) << publisher_->LogTail();
  EXPECT_GE(publisher_->Metric("roomcast_publisher_log_write_failures_total"),
            3);
  EXPECT_GE(publisher_->Metric("roomcast_publisher_log_recoveries_total"), 1);
  EXPECT_TRUE(traffic.unacked().empty());
  // Every ack is published once, and no message of the refused batch is.
  RoomSegments segs = ReadAll(room, first_k);
  follower.Stop();
  ExpectAllAckedExactlyOnce(segs, traffic, follower);
  // And what the failures left restarts, byte-identically.
  ASSERT_EQ(publisher_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(publisher_->Metric("roomcast_publisher_log_quarantined_total"), 0);
  EXPECT_EQ(ImmutableConflicts(), 0);
}

// The same with a real full disk (ENOSPC): where the test may mount a
// tmpfs (root with CAP_SYS_ADMIN, as on the project's machines); skipped
// elsewhere. Writes come back once space does.
TEST_F(PublisherE2eLifecycleTest, FullTmpfsAnswers503UntilSpaceIsBack) {
  TempDir mnt;
  if (mount("tmpfs", mnt.path().c_str(), "tmpfs", 0, "size=8m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt.path()};
  ASSERT_EQ(publisher_->Stop(SIGTERM), 0);
  publisher_ =
      std::make_unique<PublisherProcess>(mnt.path() + "/log", origin_->url());
  ASSERT_TRUE(publisher_->Start()) << publisher_->LogTail();
  const std::string room = "tmpfs-room";
  OpenRoom(room, R"({"bucket_ms": 250, "action_cap_per_s": 0})");
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, room);
  const std::string ballast = mnt.path() + "/ballast";
  std::ofstream(ballast) << std::string(5 << 20, 'b');
  std::set<std::string> acked;
  auto post = [&](const std::string& tag) {
    HttpResponse r = PostJson("/v1/rooms/" + room + "/messages",
                              Batch(tag, 100, 1000), anchor);
    if (r.status == 200) {
      for (int i = 0; i < 100; ++i) acked.insert(tag + "-" + std::to_string(i));
    } else {
      EXPECT_TRUE(IsJsonError(r, 503));
      EXPECT_FALSE(r.header("retry-after").empty());
    }
    return r.status;
  };
  int refused = 0;
  for (int i = 0; i < 100 && refused < 3; ++i)
    refused += post("a" + std::to_string(i)) != 200;
  ASSERT_EQ(refused, 3) << "the disk never filled";
  ASSERT_TRUE(publisher_->process()->running()) << publisher_->LogTail();
  std::filesystem::remove(ballast);
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = post("b" + std::to_string(i)) == 200;
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(back) << "no write succeeded once space was back\n"
                    << publisher_->LogTail();
  RoomSegments segs = ReadAll(room, first_k);
  EXPECT_TRUE(segs.problems.empty()) << segs.problems.front();
  EXPECT_TRUE(SeqContinuous(segs));
  size_t found = 0;
  for (const auto& [k, seg] : segs.segments) {
    for (const v1::Message& m : seg.messages()) {
      std::string id = m.comment().text();
      id = id.substr(0, id.find('-', id.find('-') + 1));
      EXPECT_TRUE(acked.contains(id)) << "published but never acked: " << id;
      found += acked.contains(id);
    }
  }
  EXPECT_EQ(found, acked.size());
  EXPECT_EQ(publisher_->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace roomcast::testing
