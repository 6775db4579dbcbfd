// The client and moderation (DESIGN §11) against the real stack: a real
// roomcast-publisher (comments posted and retracted through its HTTP API)
// uploading to a real roomcast-origin, D = 250 ms, read directly and
// through real Varnish and nginx. A retraction of a delivered message
// reaches on_retract; one of a message the follower never got is not
// passed on; a follower that falls behind never delivers what was
// retracted meanwhile (it reads the room's `redactions` first).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/client/recorder.h"
#include "tests/publisher/e2e_fixture.h"
#include "tests/support/caches.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;
using client::Client;
using client::FollowMode;
using Clock = std::chrono::steady_clock;

constexpr char kRoom[] = "stage";
constexpr int64_t kBucketMs = 250;

class RetractionStackTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, R"({"bucket_ms": 250})");
  }
  Ack Post(const std::string& text) { return PostComment(kRoom, text); }
  void Retract(uint64_t seq) { RetractAndWait(kRoom, seq, kBucketMs); }
  // The partial version of `redactions` the origin's manifest lists (0: none).
  uint64_t RedactionsVersion() const { return ListedVersion(kRoom, "redactions"); }
  bool WaitForRedactions() const {
    for (const auto until = Clock::now() + 5s; Clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
      if (RedactionsVersion() > 0) return true;
    }
    return false;
  }
  // Follows the room from `base` recording actions and retractions.
  struct Viewer {
    explicit Viewer(const std::string& base) : client({.base_url = base}) {
      client::Callbacks cb = rec.Callbacks();
      cb.on_retract = [this](const v1::Message& m) { retracts.push_back(m); };
      client.Follow({.room = kRoom, .mode = FollowMode::kBucketHold}, std::move(cb));
    }
    bool RunUntil(std::chrono::milliseconds limit, const std::function<bool()>& done) {
      return client.RunUntil(done, Clock::now() + limit);
    }
    std::vector<uint64_t> RetractedSeqs() const {
      std::vector<uint64_t> out;
      for (const v1::Message& m : retracts) {
        out.insert(out.end(), m.retract().seqs().begin(), m.retract().seqs().end());
      }
      return out;
    }
    Client client;
    Recorder rec;
    std::vector<v1::Message> retracts;
  };

  // Before the join (never delivered), delivered, then both retracted: one
  // on_retract, for the delivered one only.
  void RetractDeliveredAndUndelivered(const std::string& base) {
    const Ack old = Post("from before the join");
    ASSERT_TRUE(WaitForWatermark(WallMs() + kBucketMs, 5s));
    Viewer v(base);
    ASSERT_TRUE(v.RunUntil(5s, [&] { return !v.rec.joins.empty(); }));
    const Ack shown = Post("shown, then retracted");
    ASSERT_TRUE(v.RunUntil(8s, [&] { return v.rec.LastSeq() >= shown.seq; }))
        << "delivered up to " << v.rec.LastSeq();
    Retract(shown.seq);
    Retract(old.seq);
    const Ack after = Post("after");
    ASSERT_TRUE(v.RunUntil(8s, [&] { return v.rec.LastSeq() >= after.seq; }));
    v.RunUntil(600ms, [] { return false; });  // anything more would show now

    EXPECT_EQ(v.rec.Seqs(), (std::vector<uint64_t>{shown.seq, after.seq}));
    EXPECT_EQ(v.RetractedSeqs(), std::vector<uint64_t>{shown.seq});
    ASSERT_EQ(v.retracts.size(), 1u);
    EXPECT_EQ(v.retracts[0].sender(), "mod-1");
    EXPECT_TRUE(v.rec.gaps.empty());
  }
};

TEST_F(RetractionStackTest, OnRetractOnlyForWhatWasDelivered) {
  RetractDeliveredAndUndelivered(origin_->url());
}

TEST_F(RetractionStackTest, OnRetractOnlyForWhatWasDeliveredThroughVarnishAndNginx) {
  const std::string origin = origin_->url().substr(std::string("http://").size());
  for (Cache::Kind kind : {Cache::Kind::kVarnish, Cache::Kind::kNginx}) {
    Cache cache(kind, origin);
    ASSERT_TRUE(cache.Start()) << "could not start " << cache.name();
    SCOPED_TRACE(cache.name());
    RetractDeliveredAndUndelivered(cache.url());
  }
}

// A follower whose loop stops (a phone in the background) while a message
// is posted and retracted after its bucket was published: when it runs
// again, it reads the `redactions` its next manifest lists before it
// delivers that bucket, so the message and its retraction never show.
TEST_F(RetractionStackTest, AFollowerThatFellBehindNeverDeliversWhatWasRetractedMeanwhile) {
  Viewer v(origin_->url());
  ASSERT_TRUE(v.RunUntil(5s, [&] { return !v.rec.joins.empty(); }));
  const Ack first = Post("first");
  ASSERT_TRUE(v.RunUntil(8s, [&] { return v.rec.LastSeq() >= first.seq; }));
  // The loop stops here. A dozen buckets later (a dozen reads for it to
  // catch up, one manifest read to learn of the retraction):
  const int64_t stopped = segmenter::BucketIndex(WallMs(), kBucketMs);
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(stopped + 12, kBucketMs), 10s));
  const Ack gone = Post("retracted while the viewer slept");
  ASSERT_TRUE(WaitForWatermark(segmenter::BucketEnd(
                                   segmenter::BucketIndex(gone.ts_ms, kBucketMs), kBucketMs),
                               5s));
  Retract(gone.seq);
  ASSERT_TRUE(WaitForRedactions());
  const Ack after = Post("after");

  ASSERT_TRUE(v.RunUntil(15s, [&] { return v.rec.LastSeq() >= after.seq; }))
      << "delivered up to " << v.rec.LastSeq();
  v.RunUntil(600ms, [] { return false; });
  EXPECT_EQ(v.rec.Seqs(), (std::vector<uint64_t>{first.seq, after.seq}));
  EXPECT_TRUE(v.retracts.empty()) << v.retracts.front().DebugString();
  EXPECT_TRUE(v.rec.gaps.empty());
}

}  // namespace
}  // namespace roomcast::testing
