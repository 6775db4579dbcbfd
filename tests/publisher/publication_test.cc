// Publication and crash recovery through the real publisher, with a fake
// clock and an in-memory origin that refuses changed immutable objects.
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "publisher/publisher.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/naming.h"
#include "segmenter/peer_hint.h"
#include "tests/publisher/publisher_harness.h"

namespace roomcast::publisher {
namespace {

using segmenter::ManifestPath;
using segmenter::SegmentPath;
using testing::Anchor;
using testing::Comment;
using testing::Harness;
using testing::kT0;
using testing::Viewer;

constexpr int64_t kK0 = kT0 / 1000;

v1::ActionSegment Segment(Harness& h, int64_t k, int64_t d = 1000) {
  return h.origin.GetProto<v1::ActionSegment>(SegmentPath("lobby", d, k));
}

TEST(PublicationTest, ClosedBucketGoesUpBeforeManifestBeforeWatermark) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 999).ok());
  EXPECT_FALSE(h.origin.Has(SegmentPath("lobby", 1000, kK0)));  // still open
  EXPECT_LT(h.origin.watermark(), kT0 + 1000);

  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  v1::ActionSegment seg = Segment(h, kK0);
  ASSERT_EQ(seg.messages_size(), 2);
  EXPECT_EQ(seg.first_seq(), 1u);
  EXPECT_EQ(seg.last_seq(), 2u);
  EXPECT_EQ(seg.messages(0).comment().text(), "a");
  EXPECT_EQ(seg.messages(0).sender(), "viewer");
  EXPECT_EQ(h.origin.watermark(), kT0 + 1000);
  const auto puts = h.origin.puts();
  const int seg_at = h.origin.IndexOf(SegmentPath("lobby", 1000, kK0));
  int manifest_at = -1, watermark_at = -1;
  for (int i = seg_at; i < static_cast<int>(puts.size()); ++i) {
    if (puts[i] == ManifestPath("lobby") && manifest_at < 0) manifest_at = i;
    if (puts[i] == segmenter::WatermarkPath("pub-1") && watermark_at < 0) watermark_at = i;
  }
  EXPECT_LT(seg_at, manifest_at);
  EXPECT_LT(manifest_at, watermark_at);
  v1::Manifest m = h.origin.GetProto<v1::Manifest>(ManifestPath("lobby"));
  EXPECT_EQ(m.last_seq(), 2u);
  ASSERT_EQ(m.recent_segments_size(), 1);
  EXPECT_EQ(m.recent_segments(0).index(), kK0);
  EXPECT_EQ(m.publisher(), "pub-1");
  EXPECT_EQ(m.status(), v1::ROOM_STATUS_LIVE);
}

TEST(PublicationTest, IdleRoomCostsNoUploads) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.TickAt(kT0 + 10).ok());
  const size_t before = h.origin.puts().size();
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(h.TickAt(kT0 + 10 + i * 100).ok());
  // Only watermark PUTs (at bucket boundaries), no objects.
  for (size_t i = before; i < h.origin.puts().size(); ++i) {
    EXPECT_EQ(h.origin.puts()[i], segmenter::WatermarkPath("pub-1"));
  }
}

TEST(PublicationTest, WatermarkNeverPassesAnUnacknowledgedBucket) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.Open("other").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("a")).ok());
  ASSERT_TRUE(h.PostOne("other", Comment("b"), Viewer("v", "other")).ok());
  const std::string path = SegmentPath("lobby", 1000, kK0);
  h.origin.FailPath(path, true);
  EXPECT_FALSE(h.TickAt(kT0 + 3000).ok());
  EXPECT_LT(h.origin.watermark(), kT0 + 1000);
  EXPECT_FALSE(h.origin.Has(ManifestPath("lobby")) &&
               h.origin.GetProto<v1::Manifest>(ManifestPath("lobby")).last_seq() > 0);
  h.origin.FailPath(path, false);
  ASSERT_TRUE(h.TickAt(kT0 + 3100).ok());
  EXPECT_EQ(Segment(h, kK0).messages_size(), 1);
  EXPECT_EQ(h.origin.watermark(), kT0 + 3100);
}

TEST(PublicationTest, OriginOutageLosesNothing) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.origin.SetDown(true);
  for (int i = 0; i < 5; ++i) {
    h.clock.Set(kT0 + i * 1000 + 10);
    ASSERT_TRUE(h.PostOne("lobby", Comment(absl::StrCat("m", i))).ok());
    EXPECT_FALSE(h.pub->Tick().ok());
  }
  EXPECT_EQ(h.origin.watermark(), 0);
  h.origin.SetDown(false);
  ASSERT_TRUE(h.TickAt(kT0 + 5000).ok());
  for (int i = 0; i < 5; ++i) {
    v1::ActionSegment s = Segment(h, kK0 + i);
    ASSERT_EQ(s.messages_size(), 1) << i;
    EXPECT_EQ(s.messages(0).seq(), uint64_t(i + 1));
  }
  EXPECT_EQ(h.origin.watermark(), kT0 + 5000);
  EXPECT_EQ(h.origin.conflicts(), 0);
}

TEST(PublicationTest, RestartRepublishesAckedMessagesAndContinuesSeq) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("before", "id-1")).ok());
  ASSERT_TRUE(h.PostOne("lobby", Comment("crash")).ok());
  h.Restart();  // nothing was uploaded
  EXPECT_EQ(h.origin.puts().size(), 0u);
  // The retry after the crash still gets its first reply.
  auto retry = h.PostOne("lobby", Comment("before", "id-1"));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->seq(), 1u);
  auto next = h.PostOne("lobby", Comment("after"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq(), 3u);
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  v1::ActionSegment s = Segment(h, kK0);
  ASSERT_EQ(s.messages_size(), 3);
  EXPECT_EQ(s.messages(2).comment().text(), "after");
}

TEST(PublicationTest, RepublishAfterCrashIsByteIdentical) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  google::protobuf::Value v;
  v.set_string_value("title");
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.Post("lobby", {Comment("a"), Comment("b")}).ok());
  ASSERT_TRUE(h.Set("lobby", "title", v).ok());
  ASSERT_TRUE(h.Peer("lobby", "u2", Comment("thanks")).ok());
  // Objects reach the origin but the watermark does not: the publisher
  // does not know they landed.
  h.origin.FailPath(segmenter::WatermarkPath("pub-1"), true);
  EXPECT_FALSE(h.TickAt(kT0 + 1000).ok());
  const auto first = h.origin.objects();
  ASSERT_TRUE(first.contains(SegmentPath("lobby", 1000, kK0)));
  h.Restart();
  h.origin.FailPath(segmenter::WatermarkPath("pub-1"), false);
  ASSERT_TRUE(h.TickAt(kT0 + 1100).ok());
  EXPECT_EQ(h.origin.conflicts(), 0);
  const auto second = h.origin.objects();
  for (const auto& [path, bytes] : first) {
    if (path == ManifestPath("lobby")) continue;
    EXPECT_EQ(second.at(path), bytes) << path;
  }
  // The manifest never goes back a version.
  v1::Manifest before;
  ASSERT_TRUE(before.ParseFromString(first.at(ManifestPath("lobby"))));
  EXPECT_GE(h.origin.GetProto<v1::Manifest>(ManifestPath("lobby")).version(),
            before.version());
}

TEST(PublicationTest, ManifestVersionNeverGoesBackAcrossRestarts) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i) {
      h.clock.Advance(1000);
      ASSERT_TRUE(h.PostOne("lobby", Comment("x"), Anchor()).ok());
      ASSERT_TRUE(h.TickAt(h.clock.NowMs() + 1000).ok());
      const uint64_t v =
          h.origin.GetProto<v1::Manifest>(ManifestPath("lobby")).version();
      EXPECT_GT(v, last);
      last = v;
    }
    h.Restart();
  }
}

TEST(PublicationTest, StateObjectsAndSnapshotPrecedeTheManifest) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  google::protobuf::Value v;
  v.set_string_value("Friday");
  ASSERT_TRUE(h.Set("lobby", "title", v).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 50).ok());
  auto m = h.origin.GetProto<v1::Manifest>(ManifestPath("lobby"));
  ASSERT_EQ(m.components_size(), 1);
  EXPECT_EQ(m.components(0).name(), "title");
  // Versions continue from the room's epoch, so a re-created room never
  // reuses an old epoch's state URLs.
  EXPECT_EQ(m.state_version(), m.epoch() + 1);
  EXPECT_EQ(m.components(0).version(), m.epoch() + 1);
  const std::string state =
      segmenter::StatePath("lobby", "title", static_cast<int64_t>(m.components(0).version()));
  const std::string snap =
      segmenter::SnapshotPath("lobby", static_cast<int64_t>(m.state_version()));
  ASSERT_TRUE(h.origin.Has(state));
  ASSERT_TRUE(h.origin.Has(snap));
  auto c = h.origin.GetProto<v1::StateComponent>(state);
  EXPECT_EQ(c.value().string_value(), "Friday");
  EXPECT_EQ(c.set_by(), "anchor");
  EXPECT_LT(h.origin.IndexOf(state), h.origin.IndexOf(snap));
  EXPECT_LT(h.origin.IndexOf(snap), h.origin.LastIndexOf(ManifestPath("lobby")));
}

TEST(PublicationTest, PeerMessageIsPrivateAndHintedInItsBucket) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  auto r = h.Peer("lobby", "u2", Comment("secret thanks"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->bucket(), kK0);
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  auto batch = h.origin.GetProto<v1::PeerBatch>(
      segmenter::PeerPath("lobby", "u2", 1000, kK0));
  ASSERT_EQ(batch.messages_size(), 1);
  EXPECT_EQ(batch.messages(0).comment().text(), "secret thanks");
  EXPECT_EQ(batch.messages(0).recipient(), "u2");
  const std::string seg_bytes = h.origin.Get(SegmentPath("lobby", 1000, kK0));
  EXPECT_THAT(seg_bytes, ::testing::Not(::testing::HasSubstr("secret")));
  EXPECT_THAT(seg_bytes, ::testing::Not(::testing::HasSubstr("u2")));
  v1::ActionSegment seg = Segment(h, kK0);
  ASSERT_TRUE(seg.has_peer_hint());
  segmenter::HintKey key;
  ASSERT_TRUE(segmenter::HintKeyFromBytes(
      h.pub->HintKeyFor(Viewer("u2"), "lobby", "u2")->key(), &key));
  EXPECT_TRUE(segmenter::PeerHintMayContain(seg.peer_hint(), key, kK0));
}

TEST(PublicationTest, RollupMergesClosedBuckets) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  const int64_t r0 = kT0 - kT0 % 60000;
  h.clock.Set(r0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("a"), Anchor()).ok());
  h.clock.Set(r0 + 5100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("b"), Anchor()).ok());
  ASSERT_TRUE(h.TickAt(r0 + 59000).ok());
  EXPECT_FALSE(h.origin.Has(SegmentPath("lobby", 60000, r0 / 60000)));
  ASSERT_TRUE(h.TickAt(r0 + 60000).ok());
  auto roll = h.origin.GetProto<v1::ActionSegment>(
      SegmentPath("lobby", 60000, r0 / 60000));
  ASSERT_EQ(roll.messages_size(), 2);
  EXPECT_EQ(roll.first_seq(), 1u);
  EXPECT_EQ(roll.last_seq(), 2u);
}

TEST(PublicationTest, BigRoomCapKeepsHighPriorityAndCountsDrops) {
  Harness h;
  v1::OpenRoomRequest req;
  req.set_action_cap_per_s(2);
  ASSERT_TRUE(h.Open("lobby", req).ok());
  h.clock.Set(kT0 + 10);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(h.PostOne("lobby", Comment("c"), Viewer(absl::StrCat("v", i))).ok());
  }
  ASSERT_TRUE(h.PostOne("lobby", Comment("pinned"), Anchor()).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 1000).ok());
  v1::ActionSegment s = Segment(h, kK0);
  EXPECT_EQ(s.first_seq(), 1u);
  EXPECT_EQ(s.last_seq(), 6u);
  EXPECT_EQ(s.messages_size() + s.dropped().at("comment"), 6u);
  // The cap is online (DESIGN §10: a streamed record cannot be taken back):
  // the first two normal comments fill the limit (it counts normal ones),
  // the anchor's high-priority one is kept on top of it.
  ASSERT_EQ(s.messages_size(), 3);
  EXPECT_EQ(s.dropped().at("comment"), 3u);
  EXPECT_EQ(s.messages(0).sender(), "v0");
  EXPECT_EQ(s.messages(1).sender(), "v1");
  EXPECT_EQ(s.messages(s.messages_size() - 1).sender(), "anchor");
}

TEST(PublicationTest, EndedRoomPublishesEndedManifest) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.End("lobby").ok());
  ASSERT_TRUE(h.TickAt(kT0 + 10).ok());
  EXPECT_EQ(h.origin.GetProto<v1::Manifest>(ManifestPath("lobby")).status(),
            v1::ROOM_STATUS_ENDED);
}

TEST(PublicationTest, PresenceBecomesTheOnlineComponent) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  for (const char* u : {"a", "b", "c", "a"}) {
    ASSERT_TRUE(h.pub->Presence(Viewer(u), "lobby").ok());
  }
  EXPECT_EQ(h.pub->Presence(Viewer("x", "other"), "lobby").code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(h.TickAt(kT0 + 100).ok());   // count submitted to the log
  // The set becomes durable on the log's writer thread; a later tick
  // publishes it. Bounded: at most 200 ticks of 10 ms.
  auto online_version = [&]() -> uint64_t {
    if (!h.origin.Has(ManifestPath("lobby"))) return 0;
    const v1::Manifest m = h.origin.GetProto<v1::Manifest>(ManifestPath("lobby"));
    for (const auto& cv : m.components()) {
      if (cv.name() == "online") return cv.version();
    }
    return 0;
  };
  for (int i = 0; i < 200 && online_version() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(h.TickAt(kT0 + 200).ok());
  }
  const uint64_t v = online_version();
  ASSERT_NE(v, 0u);
  auto c = h.origin.GetProto<v1::StateComponent>(
      segmenter::StatePath("lobby", "online", static_cast<int64_t>(v)));
  EXPECT_EQ(c.value().number_value(), 3);
  // Unchanged: nothing new within or after the period.
  ASSERT_TRUE(h.TickAt(kT0 + 5200).ok());
  ASSERT_TRUE(h.TickAt(kT0 + 5300).ok());
  EXPECT_EQ(online_version(), v);
  EXPECT_FALSE(h.origin.Has(segmenter::StatePath("lobby", "online", static_cast<int64_t>(v + 1))));
}

TEST(PublicationTest, FlushPublishesEndedBucketsAndStopsAtItsBudget) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 100);
  ASSERT_TRUE(h.PostOne("lobby", Comment("bye"), Anchor()).ok());
  h.clock.Set(kT0 + 1000);
  // A pending rollup window does not hold the flush up.
  EXPECT_TRUE(h.pub->Flush(5000).ok());
  EXPECT_EQ(Segment(h, kK0).messages_size(), 1);
  EXPECT_EQ(h.origin.watermark(), kT0 + 1000);

  ASSERT_TRUE(h.PostOne("lobby", Comment("open bucket"), Anchor()).ok());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(h.pub->Flush(200).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

}  // namespace
}  // namespace roomcast::publisher
