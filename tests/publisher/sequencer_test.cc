// The one write path: prepare under the rooms' lock, sync, apply, done.
#include "publisher/internal/sequencer.h"

#include <memory>

#include "absl/synchronization/notification.h"
#include "base/clock.h"
#include "gtest/gtest.h"
#include "tests/publisher/temp_dir.h"

namespace roomcast::publisher::internal {
namespace {

constexpr int64_t kT0 = 1764290000000;  // a bucket start

class SequencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = DurableLog::Open({.dir = dir_.path(), .sync = false});
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    sequencer_ = std::make_unique<Sequencer>(log_.get(), &rooms_);
    ASSERT_TRUE(Write([](Sequencer::Draft& d) {
                  log::Record r;
                  r.set_room("lobby");
                  r.mutable_opened()->mutable_config()->set_bucket_ms(1000);
                  r.mutable_opened()->set_epoch(1);
                  EXPECT_TRUE(d.ApplyNow(r).ok());
                  d.Add(std::move(r));
                  return absl::OkStatus();
                }).ok());
  }

  // Submits a write and waits for its answer.
  absl::Status Write(
      absl::AnyInvocable<absl::Status(Sequencer::Draft&)> prepare) {
    absl::Notification n;
    absl::Status result = absl::UnknownError("no answer");
    sequencer_->Submit(
        {.prepare = std::move(prepare), .done = [&](absl::Status s) {
           result = s;
           n.Notify();
         }});
    n.WaitForNotification();
    return result;
  }
  // Sequences one action into the lobby; optionally refuses after stamping.
  absl::Status PostAction(bool refuse_after_stamp) {
    return Write([refuse_after_stamp](Sequencer::Draft& d) -> absl::Status {
      absl::StatusOr<Room*> room = d.Live("lobby");
      if (!room.ok()) return room.status();
      log::Record r;
      r.set_room("lobby");
      v1::Message* m = r.mutable_action()->mutable_message();
      m->set_seq((*room)->NextSeq());
      m->set_ts_ms(d.Stamp(*room));
      if (refuse_after_stamp) return absl::AbortedError("changed my mind");
      d.Add(std::move(r));
      return absl::OkStatus();
    });
  }

  testing::TempDir dir_;
  base::FakeClock clock_{kT0 + 100};
  RoomTable rooms_{{.publisher_id = "pub-1", .hint_master_secret = "m"},
                   &clock_};
  std::unique_ptr<DurableLog> log_;
  std::unique_ptr<Sequencer> sequencer_;
};

TEST_F(SequencerTest, DoneComesAfterTheRecordIsDurableAndApplied) {
  ASSERT_TRUE(PostAction(false).ok());
  EXPECT_EQ(log_->records_written(), 2u);  // the open, then the action
  ClosedRooms closed;
  EXPECT_EQ(rooms_.Close(kT0 + 1000, &closed), kT0 + 1000);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].first, "lobby");  // its segment and manifest
  EXPECT_EQ(closed[0].second.size(), 2u);
}

TEST_F(SequencerTest, RefusalIsTheAnswerAndWritesNothing) {
  EXPECT_EQ(Write([](Sequencer::Draft& d) {
              return d.Live("nowhere").status();
            }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(PostAction(true).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(log_->records_written(), 1u);  // the open only
}

TEST_F(SequencerTest, RefusedWriteDoesNotHoldItsBucketOpen) {
  ASSERT_FALSE(PostAction(true).ok());
  ClosedRooms closed;
  // Had its stamp stayed in flight, the watermark would stop at kT0 + 100.
  EXPECT_EQ(rooms_.Close(kT0 + 5000, &closed), kT0 + 5000);
}

}  // namespace
}  // namespace roomcast::publisher::internal
