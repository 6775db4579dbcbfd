#include "segmenter/state.h"

#include <gtest/gtest.h>

namespace roomcast::segmenter {
namespace {

google::protobuf::Value Str(std::string s) {
  google::protobuf::Value v;
  v.set_string_value(std::move(s));
  return v;
}

TEST(RoomStateTest, SetMakesAPartialVersionAndBumpsTheTotal) {
  RoomState st("lobby", 2);
  auto a = st.Set("title", Str("Hello"), 1000, "anchor");
  auto b = st.Set("pinned", Str("first!"), 1001, "mod");
  auto c = st.Set("title", Str("Hello again"), 1002, "anchor");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->version(), 1u);
  EXPECT_EQ(b->version(), 1u);
  EXPECT_EQ(c->version(), 2u);
  EXPECT_EQ(c->total_version(), 3u);
  EXPECT_EQ(c->room(), "lobby");
  EXPECT_EQ(c->epoch(), 2u);
  EXPECT_EQ(c->set_by(), "anchor");
  EXPECT_EQ(st.total_version(), 3u);

  auto versions = st.Versions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].name(), "pinned");  // sorted by name
  EXPECT_EQ(versions[1].name(), "title");
  EXPECT_EQ(versions[1].version(), 2u);
}

TEST(RoomStateTest, SnapshotAtAnyTotalVersion) {
  RoomState st("lobby", 1);
  ASSERT_TRUE(st.Set("title", Str("v1"), 1, "a").ok());   // total 1
  ASSERT_TRUE(st.Set("pinned", Str("p1"), 2, "a").ok());  // total 2
  ASSERT_TRUE(st.Set("title", Str("v2"), 3, "a").ok());   // total 3

  auto s1 = st.Snapshot(1);
  ASSERT_TRUE(s1.ok());
  ASSERT_EQ(s1->components_size(), 1);
  EXPECT_EQ(s1->components(0).value().string_value(), "v1");

  auto s3 = st.Snapshot(3);
  ASSERT_TRUE(s3.ok());
  ASSERT_EQ(s3->components_size(), 2);
  EXPECT_EQ(s3->components(0).name(), "pinned");
  EXPECT_EQ(s3->components(1).value().string_value(), "v2");
  EXPECT_EQ(s3->total_version(), 3u);

  EXPECT_TRUE(absl::IsNotFound(st.Snapshot(0).status()));
  EXPECT_TRUE(absl::IsNotFound(st.Snapshot(4).status()));
}

TEST(RoomStateTest, GetFindsEachPartialVersion) {
  RoomState st("lobby", 1);
  ASSERT_TRUE(st.Set("title", Str("v1"), 1, "a").ok());
  ASSERT_TRUE(st.Set("title", Str("v2"), 2, "a").ok());
  auto v1 = st.Get("title", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->value().string_value(), "v1");
  EXPECT_TRUE(absl::IsNotFound(st.Get("title", 3).status()));
  EXPECT_TRUE(absl::IsNotFound(st.Get("nope", 1).status()));
}

TEST(RoomStateTest, CompactKeepsWhatLaterSnapshotsNeed) {
  RoomState st("lobby", 1);
  ASSERT_TRUE(st.Set("title", Str("t1"), 1, "a").ok());   // 1
  ASSERT_TRUE(st.Set("pinned", Str("p1"), 2, "a").ok());  // 2
  ASSERT_TRUE(st.Set("title", Str("t2"), 3, "a").ok());   // 3
  ASSERT_TRUE(st.Set("title", Str("t3"), 4, "a").ok());   // 4
  auto before = st.Snapshot(3);
  st.Compact(3);
  EXPECT_FALSE(st.Snapshot(2).ok());
  auto after = st.Snapshot(3);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before->SerializeAsString(), after->SerializeAsString());
  EXPECT_FALSE(st.Get("title", 1).ok());
  EXPECT_TRUE(st.Get("pinned", 1).ok());  // still in force
}

TEST(RoomStateTest, VersionsContinueFromTheBase) {
  // A re-created room (new epoch) must not reuse the old epoch's version
  // numbers: their URLs hold immutable objects.
  RoomState old_epoch("lobby", 1, /*version_base=*/1000);
  RoomState new_epoch("lobby", 2, /*version_base=*/2000);
  EXPECT_EQ(new_epoch.total_version(), 0u);  // nothing set yet
  auto a = old_epoch.Set("title", Str("old"), 1, "a");
  auto b = new_epoch.Set("title", Str("new"), 2, "a");
  auto c = new_epoch.Set("title", Str("newer"), 3, "a");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->version(), 1001u);
  EXPECT_EQ(b->version(), 2001u);
  EXPECT_EQ(c->version(), 2002u);
  EXPECT_EQ(c->total_version(), 2002u);
  EXPECT_FALSE(new_epoch.Snapshot(2000).ok());
  EXPECT_TRUE(new_epoch.Snapshot(2001).ok());
}

TEST(RoomStateTest, RejectsBadNamesAndTooManyComponents) {
  RoomState st("lobby", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(st.Set("a/b", Str(""), 1, "a").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(st.Set("", Str(""), 1, "a").status()));
  for (size_t i = 0; i < kMaxComponents; ++i) {
    ASSERT_TRUE(st.Set("c" + std::to_string(i), Str("x"), 1, "a").ok());
  }
  EXPECT_TRUE(absl::IsResourceExhausted(st.Set("one-more", Str(""), 1, "a").status()));
  EXPECT_TRUE(st.Set("c0", Str("y"), 2, "a").ok());  // existing ones still work
  EXPECT_EQ(st.total_version(), kMaxComponents + 1);
}

TEST(RoomStateTest, ExpireRemovesDueComponentsEarliestFirstAsNewVersions) {
  RoomState st("lobby", 1);
  ASSERT_TRUE(st.Set("title", Str("t"), 10, "a").ok());              // total 1
  ASSERT_TRUE(st.Set("pin", Str("p"), 11, "m", /*expires=*/50).ok());  // total 2
  ASSERT_TRUE(st.Set("ad", Str("x"), 12, "m", /*expires=*/40).ok());   // total 3
  EXPECT_EQ(st.next_expiry_ms(), 40);
  EXPECT_TRUE(st.Expire(39).empty());
  std::vector<v1::StateComponent> gone = st.Expire(50);
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(gone[0].name(), "ad");  // earliest first
  EXPECT_EQ(gone[0].total_version(), 4u);
  EXPECT_EQ(gone[0].ts_ms(), 40);
  EXPECT_EQ(gone[1].name(), "pin");
  EXPECT_EQ(gone[1].version(), 2u);
  EXPECT_EQ(st.total_version(), 5u);
  EXPECT_EQ(st.next_expiry_ms(), 0);
  ASSERT_EQ(st.Versions().size(), 1u);
  EXPECT_EQ(st.Snapshot(5)->components_size(), 1);
  EXPECT_EQ(st.Snapshot(3)->components_size(), 3);  // history is kept
  EXPECT_FALSE(st.Get("pin", 2).ok());  // a removal is no object
  EXPECT_TRUE(st.Holds("pin", 2));
  // Set again, it continues its versions (never reusing a published one).
  auto again = st.Set("pin", Str("p2"), 60, "m");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version(), 3u);
  EXPECT_EQ(again->expires_ms(), 0);
}

TEST(RoomStateTest, ARemovalSurvivesACheckpointAndFreesItsSlot) {
  RoomState st("lobby", 1);
  for (size_t i = 0; i < kMaxComponents; ++i) {
    ASSERT_TRUE(st.Set("c" + std::to_string(i), Str("v"), 1, "a", 5).ok());
  }
  EXPECT_FALSE(st.Set("one-more", Str("v"), 2, "a").ok());
  EXPECT_EQ(st.Expire(5).size(), kMaxComponents);
  EXPECT_TRUE(st.CanSet("one-more", 1, 1 << 20).ok());
  RoomState back("lobby", 1);
  ASSERT_TRUE(back.Restore(st.Checkpoint()).ok());
  EXPECT_TRUE(back.Versions().empty());
  EXPECT_EQ(back.total_version(), st.total_version());
  EXPECT_TRUE(back.Set("one-more", Str("v"), 6, "a").ok());
}

}  // namespace
}  // namespace roomcast::segmenter
