// Pure parts of the client: exactly-once sequencing and the server clock.
#include "client/sequencer.h"

#include <gtest/gtest.h>

#include "client/server_clock.h"

namespace roomcast::client {
namespace {

v1::ActionSegment Segment(uint64_t first, uint64_t last, std::vector<uint64_t> kept,
                          int64_t ts = 1000) {
  v1::ActionSegment s;
  s.set_first_seq(first);
  s.set_last_seq(last);
  for (uint64_t q : kept) {
    v1::Message* m = s.add_messages();
    m->set_seq(q);
    m->set_ts_ms(ts + static_cast<int64_t>(q));
  }
  return s;
}

std::vector<uint64_t> Seqs(const std::vector<const v1::Message*>& ms) {
  std::vector<uint64_t> out;
  for (const v1::Message* m : ms) out.push_back(m->seq());
  return out;
}

TEST(SequencerTest, FirstSegmentSetsTheBaselineWithoutAGap) {
  Sequencer seq;
  v1::ActionSegment s = Segment(40, 42, {40, 41, 42});
  EXPECT_FALSE(seq.GapBefore(s));
  EXPECT_EQ(Seqs(seq.Take(s)), (std::vector<uint64_t>{40, 41, 42}));
  EXPECT_EQ(seq.next(), 43u);
}

TEST(SequencerTest, SampledOutSeqsAreNotAGap) {
  Sequencer seq;
  seq.Take(Segment(1, 2, {1, 2}));
  v1::ActionSegment s = Segment(3, 10, {3, 9});  // 6 dropped by the cap
  EXPECT_FALSE(seq.GapBefore(s));
  EXPECT_EQ(Seqs(seq.Take(s)), (std::vector<uint64_t>{3, 9}));
  EXPECT_EQ(seq.next(), 11u);
}

TEST(SequencerTest, ReportsTheMissingRange) {
  Sequencer seq;
  seq.Take(Segment(1, 2, {1, 2}));
  auto gap = seq.GapBefore(Segment(6, 7, {6, 7}));
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->first, 3u);
  EXPECT_EQ(gap->last, 5u);
}

TEST(SequencerTest, OverlappingSegmentDeliversOnlyNewSeqs) {
  Sequencer seq;
  seq.Take(Segment(1, 5, {1, 2, 3, 4, 5}));
  EXPECT_EQ(Seqs(seq.Take(Segment(4, 7, {4, 5, 6, 7}))), (std::vector<uint64_t>{6, 7}));
  EXPECT_TRUE(seq.Take(Segment(1, 5, {1, 2, 3, 4, 5})).empty());
  EXPECT_EQ(seq.overlaps(), 2u);
}

TEST(SequencerTest, MessagesBeforeTheJoinCountAsSeenButAreNotDelivered) {
  Sequencer seq;
  v1::ActionSegment s = Segment(1, 4, {1, 2, 3, 4}, /*ts=*/1000);
  EXPECT_EQ(Seqs(seq.Take(s, /*min_ts_ms=*/1003)), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(seq.next(), 5u);
}

TEST(SequencerTest, EmptySegmentChangesNothing) {
  Sequencer seq;
  EXPECT_TRUE(seq.Take(Segment(0, 0, {})).empty());
  EXPECT_FALSE(seq.next());
}

TEST(ServerClockTest, KeepsTheLocalClockWhenItAgreesWithDate) {
  ServerClock c;
  c.ObserveDate(/*date_ms=*/100'000, 0, /*sent=*/100'400, /*recv=*/100'450);
  EXPECT_EQ(c.offset_ms(), 0);
}

TEST(ServerClockTest, LocalClockBehindUsesTheLowerBound) {
  ServerClock c;
  // The server says 200 s; we think it is 100 s.
  c.ObserveDate(200'000, 0, 100'000, 100'010);
  EXPECT_EQ(c.offset_ms(), 99'990);
  // A bucket served closed proves the server had passed 200.6 s.
  c.AtLeast(100'020, 200'600);
  EXPECT_EQ(c.offset_ms(), 100'580);
}

TEST(ServerClockTest, LocalClockAheadIsPulledBack) {
  ServerClock c;
  c.ObserveDate(100'000, /*age_s=*/2, 110'000, 110'005);
  // At most 100.999 + 3 s + rtt at local 110.005 s.
  EXPECT_LT(c.offset_ms(), -5'000);
  EXPECT_GE(c.offset_ms(), -8'010);
}

TEST(ServerClockTest, AClockJumpStartsOver) {
  ServerClock c;
  c.ObserveDate(100'000, 0, 100'000, 100'000);
  c.AtLeast(100'000, 150'000);  // contradicts the upper bound
  EXPECT_EQ(c.offset_ms(), 50'000);
}

}  // namespace
}  // namespace roomcast::client
