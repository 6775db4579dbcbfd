// Ingest through the real publisher: a real RocksDB log in a temp dir, a
// fake clock, a fake origin.
#include "publisher/publisher.h"

#include <atomic>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "segmenter/bucketer.h"
#include "segmenter/naming.h"
#include "tests/publisher/publisher_harness.h"

namespace roomcast::publisher {
namespace {

using testing::Anchor;
using testing::Comment;
using testing::Harness;
using testing::kT0;
using testing::Service;
using testing::Viewer;

TEST(PublisherTest, PostIsAckedWithSeqTimeAndBucket) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 250);
  auto r = h.Post("lobby", {Comment("a"), Comment("b")});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results_size(), 2);
  EXPECT_EQ(r->results(0).seq(), 1u);
  EXPECT_EQ(r->results(1).seq(), 2u);
  EXPECT_EQ(r->results(0).ts_ms(), kT0 + 250);
  EXPECT_EQ(r->results(0).bucket_ms(), 1000u);
  EXPECT_EQ(r->results(0).bucket(), kT0 / 1000);
}

TEST(PublisherTest, ReceiveTimesStayMonotonicWhenTheClockGoesBack) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  h.clock.Set(kT0 + 500);
  auto a = h.PostOne("lobby", Comment("a"));
  h.clock.Set(kT0 + 100);
  auto b = h.PostOne("lobby", Comment("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GE(b->ts_ms(), a->ts_ms());
  EXPECT_EQ(b->seq(), a->seq() + 1);
}

TEST(PublisherTest, RetryWithSameClientMsgIdGetsTheFirstReply) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  auto first = h.PostOne("lobby", Comment("hi", "c-42"));
  h.clock.Advance(300);
  auto retry = h.PostOne("lobby", Comment("hi", "c-42"));
  auto other = h.PostOne("lobby", Comment("hi", "c-42"), Viewer("someone-else"));
  ASSERT_TRUE(first.ok() && retry.ok() && other.ok());
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(other->seq(), 2u);  // ids are per sender
  EXPECT_EQ(h.Metric("roomcast_publisher_messages_accepted_total"), 2);
}

TEST(PublisherTest, DuplicateIdsInOneBatchAreOneMessage) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  auto r = h.Post("lobby", {Comment("x", "dup"), Comment("x", "dup")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->results(0).seq(), r->results(1).seq());
}

TEST(PublisherTest, ConcurrentPostsGetDenseUniqueSeqs) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  constexpr int kThreads = 6, kEach = 50;
  std::mutex mu;
  std::set<uint64_t> seqs;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = h.PostOne("lobby", Comment("m"), Anchor(absl::StrCat("a", t)));
        ASSERT_TRUE(r.ok()) << r.status();
        std::lock_guard<std::mutex> l(mu);
        EXPECT_TRUE(seqs.insert(r->seq()).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(seqs.size(), size_t{kThreads * kEach});
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), uint64_t{kThreads * kEach});
}

TEST(PublisherTest, RolesAndRoomsAreEnforced) {
  Harness h;
  EXPECT_EQ(h.Open("lobby", {}, Viewer()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.Open("lobby", {}, Anchor()).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(h.Open("lobby").ok());
  EXPECT_EQ(h.PostOne("lobby", Comment("x"), Viewer("v", "other")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.Set("lobby", "title", google::protobuf::Value(), Viewer())
                .status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.Peer("lobby", "u2", Comment("psst"), Viewer()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.End("lobby", Viewer()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.PostOne("not-open", Comment("x"), Viewer("v", "*")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(h.PostOne("../etc", Comment("x"), Viewer("v", "*")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PublisherTest, BadBodiesAreRejectedAndNothingIsSequenced) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  EXPECT_EQ(h.PostOne("lobby", Comment(std::string("\xff\xfe", 2))).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.PostOne("lobby", Comment(std::string(5000, 'x'))).status().code(),
            absl::StatusCode::kOutOfRange);
  v1::MessageInput bad;
  bad.set_type("shout");
  EXPECT_EQ(h.PostOne("lobby", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A batch with one bad message is refused whole.
  EXPECT_FALSE(h.Post("lobby", {Comment("ok"), bad}).ok());
  auto r = h.PostOne("lobby", Comment("fine"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq(), 1u);
}

TEST(PublisherTest, OpenValidatesConfigAndIsIdempotent) {
  Harness h;
  v1::OpenRoomRequest bad;
  bad.set_bucket_ms(50);
  EXPECT_EQ(h.Open("lobby", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::OpenRoomRequest req;
  req.set_bucket_ms(250);
  auto c = h.Open("lobby", req);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->bucket_ms(), 250u);
  EXPECT_EQ(c->rollup_ms(), 60000u);
  EXPECT_EQ(c->action_cap_per_s(), 500u);
  EXPECT_TRUE(h.Open("lobby", req).ok());
  EXPECT_EQ(h.Open("lobby").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PublisherTest, EndedRoomTakesNoMoreWrites) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  ASSERT_TRUE(h.End("lobby", Anchor()).ok());
  EXPECT_EQ(h.PostOne("lobby", Comment("late")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(h.End("lobby").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h.Open("lobby").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PublisherTest, AudienceIsRateLimitedWithRetryAfter) {
  PublisherOptions o;
  o.rates = {.user_per_s = 1, .user_burst = 2, .room_per_s = 0};
  Harness h(o);
  ASSERT_TRUE(h.Open("lobby").ok());
  EXPECT_TRUE(h.PostOne("lobby", Comment("1")).ok());
  EXPECT_TRUE(h.PostOne("lobby", Comment("2")).ok());
  absl::Status s = h.PostOne("lobby", Comment("3")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfterSeconds(s), 1);
  // Another user has its own bucket; the anchor is not limited.
  EXPECT_TRUE(h.PostOne("lobby", Comment("x"), Viewer("v2")).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(h.PostOne("lobby", Comment("a"), Anchor()).ok());
  h.clock.Advance(1000);
  EXPECT_TRUE(h.PostOne("lobby", Comment("4")).ok());
}

TEST(PublisherTest, HintKeyOnlyForItsOwnUser) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  auto k = h.pub->HintKeyFor(Viewer("u2"), "lobby", "u2");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->key().size(), 32u);
  EXPECT_EQ(h.pub->HintKeyFor(Viewer("u3"), "lobby", "u2").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.pub->HintKeyFor(Viewer("u2", "other"), "lobby", "u2").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Stable across restarts (derived, not random per process).
  h.Restart();
  EXPECT_EQ(h.pub->HintKeyFor(Viewer("u2"), "lobby", "u2")->key(), k->key());
}

TEST(PublisherTest, StateSetReturnsVersions) {
  Harness h;
  ASSERT_TRUE(h.Open("lobby").ok());
  google::protobuf::Value v;
  v.set_string_value("Friday stream");
  auto a = h.Set("lobby", "title", v);
  auto b = h.Set("lobby", "title", v);
  auto c = h.Set("lobby", "pinned", v);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status();
  // Versions count up from a base that grows with the room's epoch, so a
  // re-created room never reuses an old epoch's state URLs.
  const uint64_t base = a->version - 1;
  EXPECT_GT(base, 0u);
  EXPECT_EQ(a->total_version, base + 1);
  EXPECT_EQ(b->version, base + 2);
  EXPECT_EQ(c->version, base + 1);
  EXPECT_EQ(c->total_version, base + 3);
  EXPECT_EQ(h.Set("lobby", "bad/name", v).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace roomcast::publisher
