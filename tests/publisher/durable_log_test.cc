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

TEST(DurableLogTest, UnopenableDirectoryIsAnError) {
  EXPECT_FALSE(DurableLog::Open({.dir = "/proc/roomcast-no-such/x"}).ok());
}

}  // namespace
}  // namespace roomcast::publisher::internal
