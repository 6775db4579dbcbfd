// The demo room's moderator (tools/demo_traffic.h) against a real
// roomcast-publisher uploading to a real roomcast-origin: within a few
// seconds a `retract` record (one comment in N taken back) and a `ban`
// record (the spammer's burst answered with a 60 s ban) are in the room's
// published segments, and the spammer's burst is retracted with the ban.
#include <set>

#include "roomcast/v1/manifest.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"
#include "tools/demo_traffic.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBucketMs = 250;

class DemoTrafficTest : public PublisherE2eTest {};

TEST_F(DemoTrafficTest, TheDemoModeratorRetractsAndBansVisiblyInTheSegments) {
  const int64_t first_k = segmenter::BucketIndex(WallMs(), kBucketMs);
  tools::DemoTraffic demo({.publisher_url = publisher_->url(),
                           .jwt_secret = kJwtSecret,
                           .room = "demo",
                           .bucket_ms = kBucketMs,
                           .comments_per_s = 10,
                           .viewers = 20,
                           .retract_every = 5});
  demo.Start();
  // The spammer's first burst comes 3 s in; comments at about 10 a second.
  const auto until = Clock::now() + 20s;
  while (Clock::now() < until && (demo.retracted() == 0 || demo.bans() == 0)) {
    std::this_thread::sleep_for(100ms);
  }
  demo.Stop();
  ASSERT_GT(demo.retracted(), 0u) << publisher_->LogTail();
  ASSERT_GT(demo.bans(), 0u) << publisher_->LogTail();

  // From the room's first bucket: the demo opens the room in its own
  // thread, so on a busy machine that may be a bucket after the one the
  // test started in, which never existed (404).
  HttpResponse mr = Get(origin_->url() + segmenter::ManifestPath("demo"));
  v1::Manifest manifest;
  ASSERT_TRUE(mr.status == 200 && manifest.ParseFromString(mr.body)) << mr.status;
  ASSERT_GE(segmenter::BucketIndex(manifest.opened_ms(), kBucketMs), first_k);
  RoomSegments segs =
      ReadAll("demo", kBucketMs, segmenter::BucketIndex(manifest.opened_ms(), kBucketMs));
  EXPECT_TRUE(segs.problems.empty()) << segs.problems.front();
  std::set<uint64_t> spam, retracted;
  bool banned = false;
  for (const auto& [k, s] : segs.segments) {
    for (const v1::Message& m : s.messages()) {
      if (m.sender() == "spam-bot" && m.has_comment()) spam.insert(m.seq());
      if (m.has_retract()) {
        EXPECT_EQ(m.sender(), "demo-moderator");
        retracted.insert(m.retract().seqs().begin(), m.retract().seqs().end());
      }
      if (m.has_ban()) {
        banned = true;
        EXPECT_EQ(m.sender(), "demo-moderator");
        EXPECT_EQ(m.ban().user(), "spam-bot");
        EXPECT_GT(m.ban().until_ms(), m.ts_ms() + 50'000);  // about 60 s
      }
    }
    // A spam comment retracted before its bucket was published is listed
    // as retracted there instead.
    for (uint64_t seq : s.retracted()) retracted.insert(seq);
  }
  EXPECT_TRUE(banned) << "no ban record in buckets " << first_k << "..";
  // Retracted: at least one comment in five, and every spam comment published.
  EXPECT_GE(retracted.size(), demo.retracted());
  for (uint64_t seq : spam) EXPECT_TRUE(retracted.contains(seq)) << "spam seq " << seq;
}

}  // namespace
}  // namespace roomcast::testing
