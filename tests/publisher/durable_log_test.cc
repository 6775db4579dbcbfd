#include "publisher/internal/durable_log.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/publisher/temp_dir.h"

namespace roomcast::publisher::internal {
namespace {

log::Record ActionRecord(uint64_t seq) {
  log::Record r;
  r.set_room("lobby");
  r.mutable_action()->mutable_message()->set_seq(seq);
  return r;
}

// Appends one record and waits for it to be durable.
absl::Status AppendSync(DurableLog& log, log::Record r) {
  absl::Notification n;
  absl::Status result;
  log.Submit({.prepare = [&](std::vector<log::Record>* out) { out->push_back(r); },
              .done = [&](absl::Status s) { result = s; n.Notify(); }});
  n.WaitForNotification();
  return result;
}

void NoQuarantine(const std::string& room, const std::string& key,
                  const std::string& why) {
  ADD_FAILURE() << "quarantined " << room << ": " << why;
}

std::vector<uint64_t> ReplaySeqs(DurableLog& log) {
  std::vector<uint64_t> seqs;
  EXPECT_TRUE(log.Replay(
                     [&](uint64_t, const log::Record& r) {
                       seqs.push_back(r.action().message().seq());
                       return absl::OkStatus();
                     },
                     NoQuarantine)
                  .ok());
  return seqs;
}

TEST(DurableLogTest, RecordsSurviveReopenInAppendOrder) {
  testing::TempDir dir;
  {
    auto log = DurableLog::Open({.dir = dir.path()});
    ASSERT_TRUE(log.ok()) << log.status();
    for (uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(AppendSync(**log, ActionRecord(s)).ok());
  }
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(AppendSync(**log, ActionRecord(4)).ok());
  EXPECT_EQ(ReplaySeqs(**log), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST(DurableLogTest, ConcurrentAppendsShareSyncedBatches) {
  testing::TempDir dir;
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<uint64_t> seq{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Notification n;
        (*log)->Submit(
            {.prepare = [&](std::vector<log::Record>* out) {
               // The writer thread runs prepare in order: seqs come out dense.
               out->push_back(ActionRecord(++seq));
             },
             .done = [&](absl::Status s) {
               EXPECT_TRUE(s.ok());
               n.Notify();
             }});
        n.WaitForNotification();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ((*log)->records_written(), uint64_t{kThreads * kPerThread});
  // Group commit: fewer synced writes than records.
  EXPECT_LT((*log)->batches_written(), (*log)->records_written());
  std::vector<uint64_t> seqs = ReplaySeqs(**log);
  ASSERT_EQ(seqs.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
}

TEST(DurableLogTest, JobWithNoRecordsCompletesWithoutWriting) {
  testing::TempDir dir;
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  absl::Notification n;
  (*log)->Submit({.prepare = [](std::vector<log::Record>*) {},
                  .done = [&](absl::Status s) { EXPECT_TRUE(s.ok()); n.Notify(); }});
  n.WaitForNotification();
  EXPECT_EQ((*log)->batches_written(), 0u);
}

TEST(DurableLogTest, ProgressRoundTrips) {
  testing::TempDir dir;
  {
    auto log = DurableLog::Open({.dir = dir.path()});
    ASSERT_TRUE(log.ok());
    auto p = (*log)->ReadProgress();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->uploaded_through_ms(), 0);
    log::Progress w;
    w.set_uploaded_through_ms(5000);
    log::RoomProgress rp;
    rp.set_manifest_intent(7);
    ASSERT_TRUE((*log)->WriteProgress(&w, {{"lobby", rp}}).ok());
    ASSERT_TRUE(AppendSync(**log, ActionRecord(1)).ok());
  }
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->ReadProgress()->uploaded_through_ms(), 5000);
  auto rooms = (*log)->ReadRoomProgress();
  ASSERT_TRUE(rooms.ok());
  ASSERT_EQ(rooms->size(), 1u);
  EXPECT_EQ(rooms->at("lobby").manifest_intent(), 7u);
  // Progress keys are not log records.
  EXPECT_EQ(ReplaySeqs(**log), (std::vector<uint64_t>{1}));
}

// The LSN the next record gets.
uint64_t NextLsn(DurableLog& log) {
  uint64_t lsn = 0;
  absl::Notification n;
  log.Submit({.prepare = [&](std::vector<log::Record>*) { lsn = log.next_lsn(); },
              .done = [&](absl::Status) { n.Notify(); }});
  n.WaitForNotification();
  return lsn;
}

TEST(DurableLogTest, TrimDeletesBelowItsPointAndLsnsNeverComeBack) {
  testing::TempDir dir;
  {
    auto log = DurableLog::Open({.dir = dir.path()});
    ASSERT_TRUE(log.ok());
    for (uint64_t s = 1; s <= 10; ++s) ASSERT_TRUE(AppendSync(**log, ActionRecord(s)).ok());
    ASSERT_TRUE((*log)->WriteCheckpoint({.trim_to = 6}).ok());
    EXPECT_EQ((*log)->trim_point(), 6u);
    EXPECT_EQ(ReplaySeqs(**log), (std::vector<uint64_t>{6, 7, 8, 9, 10}));
    // Everything: the log is empty, but its next LSN is still 11.
    ASSERT_TRUE((*log)->WriteCheckpoint({.trim_to = 11}).ok());
  }
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->trim_point(), 11u);
  EXPECT_TRUE(ReplaySeqs(**log).empty());
  EXPECT_EQ(NextLsn(**log), 11u);
}

TEST(DurableLogTest, CheckpointsAndReplyChunksRoundTripAndExpire) {
  testing::TempDir dir;
  DurableLog::CheckpointWrite w;
  log::RoomCheckpoint& c = w.checkpoints.emplace_back();
  c.set_room("lobby");
  c.set_lsn(42);
  c.set_seq(7);
  for (int64_t ts : {1000, 2000}) {
    DurableLog::CheckpointWrite::Replies& r = w.replies.emplace_back();
    r.room = "lobby";
    r.max_ts_ms = ts;
    r.lsn = static_cast<uint64_t>(ts);
    log::Reply* reply = r.chunk.add_replies();
    reply->set_client_msg_id("c-" + std::to_string(ts));
    reply->set_ts_ms(ts);
  }
  auto none = [](const std::string&, const std::string&, const std::string& why) {
    ADD_FAILURE() << why;
  };
  {
    auto log = DurableLog::Open({.dir = dir.path()});
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->WriteCheckpoint(w).ok());
    // Chunks whose latest reply is before 1500 go.
    ASSERT_TRUE((*log)->WriteCheckpoint({.expire_replies = {{"lobby", 1500}}}).ok());
  }
  auto log = DurableLog::Open({.dir = dir.path()});
  ASSERT_TRUE(log.ok());
  auto cps = (*log)->ReadCheckpoints(none);
  ASSERT_TRUE(cps.ok());
  ASSERT_EQ(cps->size(), 1u);
  EXPECT_EQ((*cps)[0].seq(), 7u);
  EXPECT_EQ(NextLsn(**log), 43u);  // past what the checkpoint covers
  auto replies = (*log)->ReadReplies(none);
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->at("lobby").size(), 1u);
  EXPECT_EQ(replies->at("lobby")[0].client_msg_id(), "c-2000");
  // A forgotten room's chunks and progress go with it.
  ASSERT_TRUE((*log)->WriteCheckpoint({.forget = {"lobby"}}).ok());
  EXPECT_TRUE((*log)->ReadReplies(none)->empty());
}

TEST(DurableLogTest, UnopenableDirectoryIsAnError) {
  EXPECT_FALSE(DurableLog::Open({.dir = "/proc/roomcast-no-such/x"}).ok());
}

}  // namespace
}  // namespace roomcast::publisher::internal
