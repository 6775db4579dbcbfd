// cluster::ShardOwner and cluster::Requester/Responder (DESIGN §13: rooms
// sharded over publishers by KV leases; writes handed to the owner) against
// a real 3-node JetStream cluster on loopback.
#include "cluster/shards.h"

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "cluster/forward.h"
#include "gtest/gtest.h"
#include "tests/support/nats_cluster.h"

namespace roomcast::cluster {
namespace {

using namespace std::chrono_literals;
using testing::NatsCluster;
using testing::WhileUnavailable;

TEST(ShardOfTest, IsStableAndSpreadsRooms) {
  // CRC-32 of the name: every machine and build must agree, or two
  // publishers would each think they own a room. These values are zlib's.
  EXPECT_EQ(ShardOf("lobby", 16), 0xcce455f7u % 16) << "CRC-32(\"lobby\") is 0xcce455f7";
  EXPECT_EQ(ShardName(7), "s07");
  std::vector<int> per(16);
  for (int i = 0; i < 1600; ++i) ++per[ShardOf("room-" + std::to_string(i), 16)];
  for (int n : per) {
    EXPECT_GT(n, 50);
    EXPECT_LT(n, 150);
  }
}

class ShardOwnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nats_ = new NatsCluster(); }
  static void TearDownTestSuite() { delete nats_; }

  void SetUp() override {
    ASSERT_TRUE(nats_->ready());
    auto js = JetStream::Connect({.urls = nats_->urls()});
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
    const std::string suffix = std::to_string(++buckets_);
    auto leases = WhileUnavailable(
        [&] { return Kv::Open(*js_, {.bucket = "leases" + suffix, .ttl = kTtl}); });
    ASSERT_TRUE(leases.ok()) << leases.status();
    auto members = WhileUnavailable(
        [&] { return Kv::Open(*js_, {.bucket = "members" + suffix, .ttl = kTtl}); });
    ASSERT_TRUE(members.ok()) << members.status();
    leases_ = *std::move(leases);
    members_ = *std::move(members);
  }

  struct Tracked {
    absl::Mutex mu;
    std::set<int> mine;
    std::vector<uint64_t> terms;
    int lost = 0;
    // Per shard: the last valid_until told (acquired or renewed), and when
    // it was last acquired.
    std::map<int, std::chrono::steady_clock::time_point> valid_until, acquired_at;
  };
  std::unique_ptr<ShardOwner> Owner(const std::string& holder, Tracked& t) {
    return std::make_unique<ShardOwner>(
        *leases_, *members_, ShardOwnerOptions{.holder = holder, .shards = 8, .ttl = kTtl},
        ShardOwner::Callbacks{.acquired =
                                  [&t](int s, uint64_t term, std::chrono::steady_clock::time_point valid_until) {
                                    absl::MutexLock l(&t.mu);
                                    t.valid_until[s] = valid_until;
                                    t.acquired_at[s] = std::chrono::steady_clock::now();
                                    t.mine.insert(s);
                                    t.terms.push_back(term);
                                    return absl::OkStatus();
                                  },
                              .renewed =
                                  [&t](int s, std::chrono::steady_clock::time_point valid_until) {
                                    absl::MutexLock l(&t.mu);
                                    t.valid_until[s] = valid_until;
                                  },
                              .lost =
                                  [&t](int s, bool) {
                                    absl::MutexLock l(&t.mu);
                                    t.mine.erase(s);
                                    ++t.lost;
                                  }});
  }

  static constexpr std::chrono::milliseconds kTtl{2000};
  static NatsCluster* nats_;
  static int buckets_;
  std::unique_ptr<JetStream> js_;
  std::unique_ptr<Kv> leases_, members_;
};
NatsCluster* ShardOwnerTest::nats_ = nullptr;
int ShardOwnerTest::buckets_ = 0;

TEST_F(ShardOwnerTest, TwoOwnersSplitTheShardsAndTheSurvivorTakesAll) {
  Tracked ta, tb;
  auto a = Owner("pub-a", ta);
  for (int i = 0; i < 12 && a->owned().size() < 8; ++i) a->RunRound();
  ASSERT_EQ(a->owned().size(), 8u) << "alone, one owner takes every shard";

  auto b = Owner("pub-b", tb);
  for (int i = 0; i < 40 && !(a->owned().size() == 4 && b->owned().size() == 4); ++i) {
    b->RunRound();
    a->RunRound();
  }
  ASSERT_EQ(a->owned().size(), 4u);
  ASSERT_EQ(b->owned().size(), 4u);
  std::set<int> all;
  for (int s : a->owned()) all.insert(s);
  for (int s : b->owned()) all.insert(s);
  EXPECT_EQ(all.size(), 8u) << "no shard is owned twice";
  {
    absl::MutexLock l(&ta.mu);
    const std::vector<int> owned = a->owned();
    EXPECT_EQ(ta.mine, std::set<int>(owned.begin(), owned.end()));
    EXPECT_EQ(ta.lost, 4) << "a handed back the four b took";
  }

  // a stops renewing (as if killed): once its leases and membership
  // expire, b takes all of them, each with a newer term.
  const uint64_t last_a_term = *std::max_element(ta.terms.begin(), ta.terms.end());
  {
    absl::MutexLock l(&tb.mu);
    tb.acquired_at.clear();  // from here on: the four a held
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (b->owned().size() < 8 && std::chrono::steady_clock::now() < deadline) {
    b->RunRound();
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(b->owned().size(), 8u);
  {
    absl::MutexLock la(&ta.mu);
    absl::MutexLock l(&tb.mu);
    EXPECT_GT(*std::max_element(tb.terms.begin(), tb.terms.end()), last_a_term);
    // What a was told it surely held had passed before b took any of it:
    // an engine that stops at its valid_until never overlaps the next.
    EXPECT_EQ(tb.acquired_at.size(), 4u);
    for (const auto& [shard, at] : tb.acquired_at) {
      ASSERT_TRUE(ta.valid_until.contains(shard)) << shard;
      EXPECT_LT(ta.valid_until.at(shard), at) << "shard " << shard;
    }
  }
  // a comes back: its renewals are refused, so it drops what it held.
  a->RunRound();
  absl::MutexLock l(&ta.mu);
  EXPECT_EQ(ta.lost, 8);
  EXPECT_TRUE(ta.mine.empty()) << "a took back a shard b holds";
  EXPECT_EQ(b->owned().size(), 8u);
}

TEST_F(ShardOwnerTest, StopHandsEveryShardBackAtOnce) {
  Tracked ta, tb;
  auto a = Owner("pub-a", ta);
  for (int i = 0; i < 12 && a->owned().size() < 8; ++i) a->RunRound();
  ASSERT_EQ(a->owned().size(), 8u);
  a->Stop();
  EXPECT_TRUE(a->owned().empty());
  auto b = Owner("pub-b", tb);
  // Released, not left to expire: b takes them at once (a's membership
  // has not expired, so b's fair share starts at half).
  for (int i = 0; i < 4; ++i) b->RunRound();
  EXPECT_EQ(b->owned().size(), 4u);
}

class ForwardTest : public ShardOwnerTest {};

TEST_F(ForwardTest, OneResponderAnswersEachRequestAndNoneIsUnavailable) {
  std::atomic<int> served_a{0}, served_b{0};
  auto echo = [](std::atomic<int>& n) {
    return [&n](std::string req, Responder::Reply reply) {
      ++n;
      reply("re:" + req);
    };
  };
  auto a = Responder::Serve(*js_, "rcfwd.t1", "owners", echo(served_a));
  auto b = Responder::Serve(*js_, "rcfwd.t1", "owners", echo(served_b));
  ASSERT_TRUE(a.ok() && b.ok());
  auto client = Requester::Open(*js_);
  ASSERT_TRUE(client.ok()) << client.status();

  constexpr int kRequests = 50;
  absl::Mutex mu;
  std::vector<std::string> answers;
  for (int i = 0; i < kRequests; ++i) {
    (*client)->Request("rcfwd.t1", "m" + std::to_string(i), 5s,
                       [&](absl::StatusOr<std::string> r) {
                         absl::MutexLock l(&mu);
                         answers.push_back(r.ok() ? *r : r.status().ToString());
                       });
  }
  {
    absl::MutexLock l(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](std::vector<std::string>* v) { return v->size() == kRequests; },
                        &answers),
        absl::Seconds(10)));
    std::set<std::string> got(answers.begin(), answers.end());
    for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(got.contains("re:m" + std::to_string(i)));
  }
  EXPECT_EQ(served_a + served_b, kRequests) << "each request is served once";

  // Nobody serves the subject: "no responders", at once, not a timeout.
  absl::Notification none;
  absl::Status none_status;
  (*client)->Request("rcfwd.nobody", "x", 30s, [&](absl::StatusOr<std::string> r) {
    none_status = r.status();
    none.Notify();
  });
  ASSERT_TRUE(none.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsUnavailable(none_status)) << none_status;
}

TEST_F(ForwardTest, AnUnansweredRequestTimesOut) {
  auto silent = Responder::Serve(*js_, "rcfwd.t2", "owners", [](std::string, Responder::Reply) {});
  ASSERT_TRUE(silent.ok());
  auto client = Requester::Open(*js_);
  ASSERT_TRUE(client.ok());
  absl::Notification done;
  absl::Status status;
  (*client)->Request("rcfwd.t2", "x", 300ms, [&](absl::StatusOr<std::string> r) {
    status = r.status();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ((*client)->pending(), 0u);
}

}  // namespace
}  // namespace roomcast::cluster
