#include "segmenter/naming.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "segmenter/bucketer.h"

namespace roomcast::segmenter {
namespace {

std::vector<ObjectRef> AllKinds() {
  return {
      {.cls = ObjectClass::kManifest, .room = "lobby"},
      {.cls = ObjectClass::kManifest, .room = "lobby", .format = Format::kJson},
      {.cls = ObjectClass::kActions, .room = "r-1_A", .bucket_ms = 250,
       .number = 7057160000},
      {.cls = ObjectClass::kActions, .room = "r", .bucket_ms = 60000,
       .number = 0, .format = Format::kJson},
      {.cls = ObjectClass::kState, .room = "lobby", .name = "title", .number = 3},
      {.cls = ObjectClass::kSnapshot, .room = "lobby", .number = 12,
       .format = Format::kJson},
      {.cls = ObjectClass::kPeer, .room = "lobby", .name = "user-9",
       .bucket_ms = 1000, .number = 1764290000},
      {.cls = ObjectClass::kPeerKey, .room = "lobby", .name = "user-9"},
      {.cls = ObjectClass::kWatermark, .name = "pub-1"},
  };
}

TEST(NamingTest, PathsMatchTheDesignTable) {
  EXPECT_EQ(ManifestPath("lobby"), "/v1/rooms/lobby/manifest.pb");
  EXPECT_EQ(SegmentPath("lobby", 1000, 42), "/v1/rooms/lobby/actions/1000/42.pb");
  EXPECT_EQ(SegmentPath("lobby", 1000, 42, Format::kJson),
            "/v1/rooms/lobby/actions/1000/42.json");
  EXPECT_EQ(StatePath("lobby", "title", 3), "/v1/rooms/lobby/state/title/3.pb");
  EXPECT_EQ(SnapshotPath("lobby", 9), "/v1/rooms/lobby/snapshot/9.pb");
  EXPECT_EQ(PeerPath("lobby", "u1", 1000, 5), "/v1/rooms/lobby/peer/u1/1000/5.pb");
  EXPECT_EQ(PeerKeyPath("lobby", "u1"), "/v1/rooms/lobby/peer/u1/key");
  EXPECT_EQ(WatermarkPath("pub-1"), "/v1/publishers/pub-1/watermark");
}

TEST(NamingTest, EveryPathRoundTrips) {
  for (const ObjectRef& ref : AllKinds()) {
    const std::string path = ObjectPath(ref);
    auto back = ParsePath(path);
    ASSERT_TRUE(back.ok()) << path << ": " << back.status();
    EXPECT_EQ(*back, ref) << path;
  }
}

TEST(NamingTest, EveryStorageKeyRoundTrips) {
  for (ObjectRef ref : AllKinds()) {
    ref.format = Format::kProto;  // keys are per object, not per rendition
    const std::string key = StorageKey(ref);
    auto back = ParseStorageKey(key);
    ASSERT_TRUE(back.ok()) << key << ": " << back.status();
    EXPECT_EQ(*back, ref) << key;
  }
}

TEST(NamingTest, StorageKeysSortByNumber) {
  EXPECT_LT(StorageKey({.cls = ObjectClass::kActions, .room = "a",
                        .bucket_ms = 1000, .number = 9}),
            StorageKey({.cls = ObjectClass::kActions, .room = "a",
                        .bucket_ms = 1000, .number = 10}));
  EXPECT_TRUE(StorageKey({.cls = ObjectClass::kSnapshot, .room = "a", .number = 1})
                  .starts_with(RoomKeyPrefix("a")));
  // A room that is a prefix of another does not share its key prefix.
  EXPECT_FALSE(StorageKey({.cls = ObjectClass::kManifest, .room = "ab"})
                   .starts_with(RoomKeyPrefix("a")));
}

TEST(NamingTest, IdsAreStrict) {
  EXPECT_TRUE(IsValidId("Room_1-x"));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidId(""));
  for (std::string bad : std::vector<std::string>{"a.b", "a/b", "..", "a b", "é", "a%2F", "a\\b",
                          std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
  }
}

TEST(NamingTest, RejectsPathsThatCouldEscapeOrAlias) {
  for (std::string bad : std::vector<std::string>{
           "/v1/rooms/../manifest.pb",
           "/v1/rooms/lobby/../other/manifest.pb",
           "/v1/rooms/%2e%2e/manifest.pb",
           "/v1/rooms/lobby%00/manifest.pb",
           std::string("/v1/rooms/lob\0by/manifest.pb", 28),
           "/v1/rooms//manifest.pb",
           "/v1/rooms/lobby/actions/1000/007.pb",       // non-canonical
           "/v1/rooms/lobby/actions/1000/-1.pb",
           "/v1/rooms/lobby/actions/1000/+1.pb",
           "/v1/rooms/lobby/actions/99/1.pb",           // D below 100
           "/v1/rooms/lobby/actions/3600001/1.pb",      // D above an hour
           "/v1/rooms/lobby/actions/1000/1.txt",
           "/v1/rooms/lobby/actions/1000/1.pb/",
           "/v1/rooms/lobby/actions/1000/9999999999999999999.pb",  // overflow
           "/v1/rooms/lobby/state/ti.tle/1.pb",
           "/v1/rooms/lobby/state/title/0.pb",          // versions start at 1
           "/v1/rooms/lobby/snapshot/0.pb",
           "/v1/rooms/lobby/peer/u.1/1000/1.pb",
           "/v1/publishers/p.1/watermark",
       }) {
    auto r = ParsePath(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(r.status()) ||
                  absl::IsNotFound(r.status()))
          << bad;
    }
  }
}

TEST(NamingTest, PrivateRoomsHaveTheirOwnPrefixAndStorageKeys) {
  for (ObjectRef ref : AllKinds()) {
    if (ref.cls == ObjectClass::kWatermark) continue;
    ref.scope = Scope::kPrivate;
    const std::string path = ObjectPath(ref);
    EXPECT_TRUE(absl::StartsWith(path, "/v1/private/")) << path;
    auto back = ParsePath(path);
    ASSERT_TRUE(back.ok()) << path << ": " << back.status();
    EXPECT_EQ(*back, ref) << path;
    if (ref.cls == ObjectClass::kPeerKey) continue;
    ObjectRef pub = ref;
    pub.scope = Scope::kPublic;
    pub.format = Format::kProto;
    ref.format = Format::kProto;
    // A public path never names a private room's bytes.
    EXPECT_NE(StorageKey(ref), StorageKey(pub));
    auto key_back = ParseStorageKey(StorageKey(ref));
    ASSERT_TRUE(key_back.ok());
    EXPECT_EQ(*key_back, ref);
  }
  EXPECT_EQ(SegmentPath("vip", 1000, 7, Format::kJson, Scope::kPrivate),
            "/v1/private/vip/actions/1000/7.json");
  EXPECT_FALSE(ParsePath("/v1/private/../rooms/x/manifest.pb").ok());
}

TEST(NamingTest, BucketsWhoseEndWouldOverflowAreRefused) {
  // (k + 1) * 250 overflows int64 for this k; the path used to name a
  // year-cacheable empty segment.
  EXPECT_FALSE(ParsePath("/v1/rooms/a/actions/250/221360936068974501.pb").ok());
  EXPECT_FALSE(ParsePath("/v1/rooms/a/peer/u/60000/999999999999999999.pb").ok());
  // The last bucket that ends by the year 9999 is still a bucket.
  const int64_t last = kMaxTimeMs / 1000 - 1;
  auto ref = ParsePath(absl::StrCat("/v1/rooms/a/actions/1000/", last, ".pb"));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_LE(BucketEnd(ref->number, 1000), kMaxTimeMs);
  EXPECT_FALSE(ParsePath(absl::StrCat("/v1/rooms/a/actions/1000/", last + 1, ".pb")).ok());
}

TEST(NamingTest, UnknownShapesAreNotFound) {
  for (std::string path : {"/", "/v1/rooms", "/v2/rooms/a/manifest.pb",
                           "/v1/rooms/a", "/v1/rooms/a/manifest.xml",
                           "/v1/rooms/a/actions/1000", "/v1/rooms/a/peer/u1",
                           "/v1/publishers/p/other"}) {
    auto r = ParsePath(path);
    EXPECT_FALSE(r.ok()) << path;
  }
}

TEST(NamingTest, BadStorageKeysAreRejected) {
  for (std::string key : {"", "r/a", "r/a/a/1000/5", "r/a/a/00001000/5",
                          "r/a.b/m", "x/a/m", "w/a.b", "r/a/s/t/0"}) {
    EXPECT_FALSE(ParseStorageKey(key).ok()) << key;
  }
}

}  // namespace
}  // namespace roomcast::segmenter
