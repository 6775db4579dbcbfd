#include "segmenter/manifest.h"

#include <gtest/gtest.h>

#include "segmenter/codec.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;

ManifestIdentity Identity() {
  v1::RoomConfig cfg;
  cfg.set_bucket_ms(1000);
  cfg.set_rollup_ms(60000);
  cfg.set_retention_s(86400);
  cfg.set_action_cap_per_s(500);
  return {.room = "lobby", .epoch = 4, .publisher = "pub-1",
          .opened_ms = 100'000, .config = cfg};
}

v1::ActionSegment Seg(int64_t k, uint64_t first, uint64_t last) {
  std::vector<v1::Message> msgs;
  for (uint64_t s = first; s <= last; ++s) msgs.push_back(Action(s, k * 1000));
  return BuildSegment({.room = "lobby", .epoch = 4, .bucket_ms = 1000, .index = k},
                      std::move(msgs));
}

TEST(ManifestTest, VersionBumpsOnlyWhenContentChanges) {
  ManifestBuilder mb(Identity());
  const uint64_t v0 = mb.version();
  mb.AddSegment(EmptySegment("lobby", 4, 1000, 100), "x");
  EXPECT_EQ(mb.version(), v0);  // an empty bucket changes nothing
  mb.AddSegment(Seg(101, 1, 3), "d1");
  EXPECT_EQ(mb.version(), v0 + 1);

  RoomState st("lobby", 4);
  mb.SetState(st);
  EXPECT_EQ(mb.version(), v0 + 1);  // no state yet
  google::protobuf::Value v;
  v.set_string_value("Hello");
  ASSERT_TRUE(st.Set("title", v, 1, "a").ok());
  mb.SetState(st);
  EXPECT_EQ(mb.version(), v0 + 2);
  mb.SetState(st);
  EXPECT_EQ(mb.version(), v0 + 2);
  mb.End();
  mb.End();
  EXPECT_EQ(mb.version(), v0 + 3);
}

TEST(ManifestTest, CarriesEverythingAClientNeedsToJoin) {
  ManifestBuilder mb(Identity());
  mb.AddSegment(Seg(101, 1, 3), "d1");
  RoomState st("lobby", 4);
  google::protobuf::Value v;
  v.set_number_value(12);
  ASSERT_TRUE(st.Set("online", v, 1, "service").ok());
  ASSERT_TRUE(st.Set("online", v, 2, "service").ok());
  mb.SetState(st);
  v1::Manifest m = mb.Build(/*server_time_ms=*/102'345, /*watermark_ms=*/102'000);
  EXPECT_EQ(m.room(), "lobby");
  EXPECT_EQ(m.epoch(), 4u);
  EXPECT_EQ(m.server_time_ms(), 102'345);
  EXPECT_EQ(m.watermark_ms(), 102'000);
  EXPECT_EQ(m.publisher(), "pub-1");
  EXPECT_EQ(m.opened_ms(), 100'000);
  EXPECT_EQ(m.config().bucket_ms(), 1000u);
  EXPECT_EQ(m.status(), v1::ROOM_STATUS_LIVE);
  ASSERT_EQ(m.recent_segments_size(), 1);
  EXPECT_EQ(m.recent_segments(0).digest(), "d1");
  EXPECT_EQ(m.recent_segments(0).count(), 3u);
  EXPECT_EQ(m.last_seq(), 3u);
  EXPECT_EQ(m.state_version(), 2u);
  ASSERT_EQ(m.components_size(), 1);
  EXPECT_EQ(m.components(0).version(), 2u);
  mb.End();
  EXPECT_EQ(mb.Build(0, 0).status(), v1::ROOM_STATUS_ENDED);
}

TEST(ManifestTest, ListsABucketWithOnlyAPeerHint) {
  ManifestBuilder mb(Identity());
  v1::ActionSegment hinted = EmptySegment("lobby", 4, 1000, 150);
  hinted.mutable_peer_hint()->set_num_bits(64);
  const uint64_t v0 = mb.version();
  mb.AddSegment(hinted, "dh");
  EXPECT_EQ(mb.version(), v0 + 1);
  v1::Manifest m = mb.Build(151'000, 151'000);
  ASSERT_EQ(m.recent_segments_size(), 1);
  EXPECT_EQ(m.recent_segments(0).index(), 150);
  EXPECT_EQ(m.recent_segments(0).count(), 0u);
  EXPECT_EQ(m.last_seq(), 0u);
}

TEST(ManifestTest, ListsOnlyTheMostRecentSegments) {
  ManifestBuilder mb(Identity());
  uint64_t seq = 1;
  for (int64_t k = 200; k < 240; ++k, ++seq) mb.AddSegment(Seg(k, seq, seq), "d");
  v1::Manifest m = mb.Build(240'000, 240'000);
  ASSERT_EQ(m.recent_segments_size(), static_cast<int>(kRecentSegments));
  EXPECT_EQ(m.recent_segments(0).index(), 240 - static_cast<int64_t>(kRecentSegments));
  EXPECT_EQ(m.recent_segments(kRecentSegments - 1).index(), 239);
}

TEST(ManifestTest, FollowHintTracksHowBusyTheRoomIs) {
  ManifestBuilder mb(Identity());
  mb.AddSegment(Seg(300, 1, 1), "d");
  EXPECT_EQ(mb.Build(0, 301'000).follow().mode(), v1::FOLLOW_MODE_MANIFEST_HOLD);
  mb.AddSegment(Seg(301, 2, 2), "d");
  mb.AddSegment(Seg(302, 3, 3), "d");
  v1::Manifest busy = mb.Build(0, 303'000);
  EXPECT_EQ(busy.follow().mode(), v1::FOLLOW_MODE_BUCKET_HOLD);
  EXPECT_EQ(busy.follow().poll_ms(), 1000u);
  // A minute later with no actions, the room is quiet again.
  EXPECT_EQ(mb.Build(0, 363'000).follow().mode(), v1::FOLLOW_MODE_MANIFEST_HOLD);
}

}  // namespace
}  // namespace roomcast::segmenter
