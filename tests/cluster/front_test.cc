// ClusterFront (DESIGN §13): two publishers over a real 3-node JetStream
// cluster on loopback, each behind its own http::Server on 127.0.0.1. Rooms
// hash to shards split between them by leases; a write sent to either is
// served by the owner of its room's shard and the answer comes back through
// the one it was sent to. The engines here keep their logs in RocksDB, one
// directory per shard: what is tested is the routing, not failover.
#include "publisher/cluster_front.h"
#include "publisher/forward.pb.h"

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "auth/jwt.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "tests/publisher/fake_uploader.h"
#include "tests/publisher/publisher_harness.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_cluster.h"
#include "tests/support/process.h"

namespace roomcast::publisher {
namespace {

using namespace std::chrono_literals;
using roomcast::testing::Fetch;
using roomcast::testing::HttpResponse;
using roomcast::testing::NatsCluster;
using roomcast::testing::TempDir;
using testing::MetricValue;

constexpr char kSecret[] = "jwt-secret";
constexpr int kShards = 4;

std::string Token(v1::Role role, const std::string& room) {
  const int64_t now_s = absl::ToUnixSeconds(absl::Now());
  return auth::MintJwt({.sub = "u1", .role = role, .room = room, .exp = now_s + 600}, kSecret);
}

// One publisher process's parts: a front, its engines, an HTTP server.
struct Node {
  Node(const std::string& holder, const NatsCluster& nats, const std::string& dir,
       Uploader* uploader) {
    auto front = ClusterFront::Start(
        {.nats_urls = nats.urls(), .holder = holder, .shards = kShards, .lease_ttl = 1500ms},
        ApiOptions{.jwt_secret = kSecret},
        [=, this](int shard, uint64_t, std::chrono::steady_clock::time_point,
                   cluster::JetStream&) -> absl::StatusOr<std::shared_ptr<Publisher>> {
          PublisherOptions o{.id = cluster::ShardName(shard),
                             .data_dir = absl::StrCat(dir, "/", cluster::ShardName(shard)),
                             .hint_master_secret = "hint"};
          o.live = false;
          return Publisher::Open(o, &clock, uploader);
        });
    EXPECT_TRUE(front.ok()) << front.status();
    if (!front.ok()) return;
    this->front = *std::move(front);
    http::ServerOptions http{.listen = "127.0.0.1:0", .threads = 1};
    http.admit = [this](const http::RequestHead& h, absl::string_view remote) {
      return this->front->api().Admit(h, remote);
    };
    server = std::make_unique<http::Server>(
        std::move(http), [this](http::Request& r) { return this->front->api().Handle(r); });
    EXPECT_TRUE(server->Start().ok());
  }
  ~Node() {
    if (server) server->Stop();
  }
  double Metric(const std::string& name) {
    return MetricValue(Fetch("GET", server->url() + "/metrics").body, name);
  }

  base::SystemClock clock;
  std::unique_ptr<ClusterFront> front;
  std::unique_ptr<http::Server> server;
};

class ClusterFrontTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(nats_.ready()); }

  // Waits (bounded) until the shards are split two and two.
  bool Split(Node& a, Node& b) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (a.front->owned_shards().size() == 2 && b.front->owned_shards().size() == 2) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // A room whose shard `n` owns.
  static std::string RoomOf(Node& n) {
    const std::vector<int> mine = n.front->owned_shards();
    for (int i = 0;; ++i) {
      std::string room = absl::StrCat("room-", i);
      if (std::count(mine.begin(), mine.end(), cluster::ShardOf(room, kShards)) > 0) return room;
    }
  }

  NatsCluster nats_;
  TempDir dir_;
  testing::FakeUploader origin_;
};

TEST_F(ClusterFrontTest, AWriteToEitherPublisherIsServedByItsShardsOwner) {
  Node a("pub-a", nats_, dir_.path() + "/a", &origin_);
  Node b("pub-b", nats_, dir_.path() + "/b", &origin_);
  ASSERT_TRUE(a.front && b.front);
  ASSERT_TRUE(Split(a, b));
  const std::string room = RoomOf(b);  // owned by b, written through a
  const std::string svc = Token(v1::ROLE_SERVICE, "*");
  auto call = [&](Node& n, const std::string& method, const std::string& path,
                  const std::string& body, const std::string& token) {
    return Fetch(method, n.server->url() + path, body,
                 {"Authorization: Bearer " + token, "Content-Type: application/json"});
  };
  ASSERT_EQ(call(a, "POST", "/v1/rooms/" + room, R"({"bucket_ms": 500})", svc).status, 200);
  const std::string viewer = Token(v1::ROLE_AUDIENCE, room);
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = call(i % 2 ? a : b, "POST", "/v1/rooms/" + room + "/messages",
                          absl::StrCat(R"({"type":"comment","text":"m)", i, R"("})"), viewer);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find(absl::StrCat(R"("seq":)", i)), std::string::npos)
        << "one sequence for the room, whichever publisher took the write: " << r.body;
  }
  EXPECT_EQ(a.Metric("roomcast_publisher_forwarded_total"), 3);  // open + m1 + m3
  EXPECT_EQ(b.Metric("roomcast_publisher_forwarded_in_total"), 3);
  EXPECT_EQ(b.Metric("roomcast_publisher_forwarded_total"), 0) << "b owns the room";

  // Refused where it is taken: nothing is handed on without a valid token.
  HttpResponse bad = call(a, "POST", "/v1/rooms/" + room + "/messages",
                          R"({"type":"comment","text":"x"})", "not-a-token");
  EXPECT_EQ(bad.status, 401);
  HttpResponse other = call(a, "POST", "/v1/rooms/" + room + "/messages",
                            R"({"type":"comment","text":"x"})", Token(v1::ROLE_AUDIENCE, "elsewhere"));
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(a.Metric("roomcast_publisher_forwarded_total"), 3);
  EXPECT_EQ(b.Metric("roomcast_publisher_forwarded_in_total"), 3);

  // The owner publishes under the shard's name: the manifest names it.
  const std::string shard = cluster::ShardName(cluster::ShardOf(room, kShards));
  b.front->Local(room)->Tick().IgnoreError();
  EXPECT_TRUE(origin_.Has(absl::StrCat("/v1/publishers/", shard, "/watermark")))
      << "the shard's engine publishes as " << shard;
}

TEST_F(ClusterFrontTest, AHandedOnWriteWhoseShardMovedAgainIsNotHandedOnTwice) {
  Node a("pub-a", nats_, dir_.path() + "/a", &origin_);
  ASSERT_TRUE(a.front);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (a.front->owned_shards().size() < kShards && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(a.front->owned_shards().size(), static_cast<size_t>(kShards));
  // A request marked as already handed on, for a room with no owner here,
  // is answered at once: 503 with Retry-After, not sent around again.
  a.front->Stop();
  HttpResponse r = Fetch("POST", a.server->url() + "/v1/rooms/lobby/messages",
                         R"({"type":"comment","text":"x"})",
                         {"Authorization: Bearer " + Token(v1::ROLE_AUDIENCE, "lobby"),
                          "Content-Type: application/json", "Roomcast-Forwarded: 1"});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(a.Metric("roomcast_publisher_forwarded_total"), 0);
}

}  // namespace
}  // namespace roomcast::publisher

namespace roomcast::publisher {
namespace {

// A participant on NATS answering a hand-off (here: the holder of a lease
// the test wrote itself) cannot split the HTTP answer it is copied into:
// headers with CR, LF or NUL are dropped, the rest pass.
TEST(ClusterFrontHostileOwnerTest, AnOwnersHeadersWithLineBreaksAreDropped) {
  NatsCluster nats;
  ASSERT_TRUE(nats.ready());
  auto js = cluster::JetStream::Connect({.urls = nats.urls()});
  ASSERT_TRUE(js.ok()) << js.status();
  // The lease bucket with a long TTL, so the test's lease outlives the test.
  auto leases = cluster::WhileUnavailable(
      [&] { return cluster::Kv::Open(**js, {.bucket = "rc_shards", .ttl = 60s}); });
  ASSERT_TRUE(leases.ok()) << leases.status();
  const std::string room = "lobby";
  const int shard = cluster::ShardOf(room, kShards);
  ASSERT_TRUE((*leases)->Create("shard." + cluster::ShardName(shard), "evil").ok());
  auto evil = cluster::Responder::Serve(
      **js, "rcfwd.evil." + cluster::ShardName(shard), "owner",
      [](std::string, cluster::Responder::Reply reply) {
        fwd::Response r;
        r.set_status(200);
        fwd::Header* bad = r.add_headers();
        bad->set_name("X-Note");
        bad->set_value("ok\r\nX-Injected: 1");
        fwd::Header* good = r.add_headers();
        good->set_name("X-Fine");
        good->set_value("yes");
        r.set_body("{}\n");
        reply(r.SerializeAsString());
      });
  ASSERT_TRUE(evil.ok()) << evil.status();

  TempDir dir;
  testing::FakeUploader origin;
  Node a("pub-a", nats, dir.path() + "/a", &origin);
  ASSERT_TRUE(a.front);
  HttpResponse r = Fetch("POST", a.server->url() + "/v1/rooms/" + room + "/messages",
                         R"({"type":"comment","text":"x"})",
                         {"Authorization: Bearer " + Token(v1::ROLE_AUDIENCE, room),
                          "Content-Type: application/json"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fine"), "yes");
  EXPECT_TRUE(r.header("x-note").empty());
  EXPECT_TRUE(r.header("x-injected").empty()) << "a header line was injected";
}

}  // namespace
}  // namespace roomcast::publisher
