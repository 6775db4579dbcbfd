// RoomAccess: a room's paths under its own prefix, and the cookie its edge
// token travels in, which no token can break out of.
#include "client/room_access.h"

#include <gtest/gtest.h>

namespace roomcast::client {
namespace {

TEST(RoomAccessTest, APublicRoomIsReadUnderRoomsWithNoHeader) {
  const RoomAccess lobby{.room = "lobby"};
  EXPECT_FALSE(lobby.is_private());
  EXPECT_EQ(lobby.ManifestPath(), "/v1/rooms/lobby/manifest.pb");
  EXPECT_EQ(lobby.SegmentPath(1000, 7), "/v1/rooms/lobby/actions/1000/7.pb");
  EXPECT_TRUE(lobby.Headers().empty());
}

TEST(RoomAccessTest, APrivateRoomIsReadUnderPrivateWithItsTokensCookie) {
  const std::string token = "exp=1796215409~acl=/v1/private/vip/*~hmac=0a1b";
  const RoomAccess vip{.room = "vip", .edge_token = token};
  EXPECT_EQ(vip.ManifestPath(segmenter::Format::kJson), "/v1/private/vip/manifest.json");
  EXPECT_EQ(vip.SegmentPath(250, 9), "/v1/private/vip/actions/250/9.pb");
  EXPECT_EQ(vip.StatePath("title", 3), "/v1/private/vip/state/title/3.pb");
  EXPECT_EQ(vip.SnapshotPath(4), "/v1/private/vip/snapshot/4.pb");
  EXPECT_EQ(vip.PeerPath("alice", 250, 9), "/v1/private/vip/peer/alice/250/9.pb");
  EXPECT_EQ(vip.Headers(), std::vector<std::string>{"Cookie: rc_token=" + token});
}

TEST(RoomAccessTest, NoTokenBreaksOutOfItsCookie) {
  EXPECT_EQ(EdgeTokenCookie("a b;c=\"d\"\r\nX-Injected: 1"),
            "Cookie: rc_token=a%20b%3bc=%22d%22%0d%0aX-Injected:%201");
}

}  // namespace
}  // namespace roomcast::client
