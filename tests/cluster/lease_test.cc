// cluster::Kv and cluster::Lease (DESIGN §13: shards owned by KV leases)
// against a real 3-node JetStream cluster on loopback.
#include "cluster/lease.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/nats_cluster.h"

namespace roomcast::cluster {
namespace {

using namespace std::chrono_literals;
using testing::NatsCluster;
using testing::WhileUnavailable;

class LeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(nats_.ready());
    auto js = JetStream::Connect({.urls = nats_.urls()});
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = *std::move(js);
    auto kv = WhileUnavailable([&] { return Kv::Open(*js_, {.bucket = "leases", .ttl = 2s}); });
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = *std::move(kv);
  }

  NatsCluster nats_;
  std::unique_ptr<JetStream> js_;
  std::unique_ptr<Kv> kv_;
};

TEST_F(LeaseTest, OneHolderAtATimeAndARenewMovesTheRevision) {
  auto a = WhileUnavailable([&] { return Lease::Acquire(*kv_, "shard.7", "pub-a"); });
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<Lease> b = Lease::Acquire(*kv_, "shard.7", "pub-b");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(b.status())) << b.status();
  // It names the holder when a read finds it (KV reads may be served by a
  // follower a moment behind: then "another holder").
  EXPECT_NE(b.status().message().find("is held by"), absl::string_view::npos) << b.status();

  const uint64_t term = a->term();
  ASSERT_TRUE(a->Renew().ok());
  ASSERT_TRUE(a->Renew().ok());
  EXPECT_GT(a->revision(), term);
  EXPECT_EQ(a->term(), term);
  EXPECT_EQ(kv_->Get("shard.7")->value, "pub-a");

  ASSERT_TRUE(a->Release().ok());
  absl::StatusOr<Lease> next = Lease::Acquire(*kv_, "shard.7", "pub-b");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_GT(next->term(), term);  // terms order owners
  EXPECT_TRUE(absl::IsFailedPrecondition(a->Renew())) << "a released lease came back";
}

// A holder that stops renewing (killed, or paused: SIGSTOP) loses the lease
// once its value expires; the next holder gets it, and the old one's renew
// is refused, however late it comes.
TEST_F(LeaseTest, AnUnrenewedLeaseIsTakenOverAndTheOldHolderCannotRenew) {
  auto a = WhileUnavailable([&] { return Lease::Acquire(*kv_, "shard.3", "pub-a"); });
  ASSERT_TRUE(a.ok()) << a.status();
  // pub-b tries until the TTL (2 s) has passed; bounded.
  absl::StatusOr<Lease> b = absl::FailedPreconditionError("not tried");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    b = Lease::Acquire(*kv_, "shard.3", "pub-b");
    if (b.ok() || !absl::IsFailedPrecondition(b.status())) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(b->term(), a->term());
  absl::Status late = a->Renew();
  EXPECT_TRUE(absl::IsFailedPrecondition(late)) << late;
  EXPECT_EQ(kv_->Get("shard.3")->value, "pub-b");
  EXPECT_TRUE(b->Renew().ok());
}

TEST_F(LeaseTest, AMissingKeyIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(kv_->Get("nothing").status())) << kv_->Get("nothing").status();
}

}  // namespace
}  // namespace roomcast::cluster
