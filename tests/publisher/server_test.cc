// PublisherServer, the whole publisher process in one object: its ingest API
// over real HTTP on 127.0.0.1, uploading with libcurl to a stand-in origin
// (an http::Server that keeps what is PUT).
#include "publisher/server.h"

#include <boost/beast/http/verb.hpp>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "publisher/publisher.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/naming.h"
#include "tests/publisher/temp_dir.h"
#include "tests/support/http_client.h"

namespace roomcast::publisher {
namespace {

namespace bh = boost::beast::http;
using roomcast::testing::Fetch;
using roomcast::testing::HttpResponse;

constexpr char kJwtSecret[] = "jwt-secret";
constexpr char kWriteSecret[] = "write-secret";

// Keeps the last body PUT at each path, and the Authorization it came with.
class StandInOrigin {
 public:
  StandInOrigin()
      : server_({.listen = "127.0.0.1:0", .threads = 1},
                [this](http::Request& req)
                    -> boost::asio::awaitable<http::Response> {
                  co_return Store(req);
                }) {}
  absl::Status Start() { return server_.Start(); }
  std::string url() const { return server_.url(); }
  std::string Get(const std::string& path) {
    absl::MutexLock l(&mu_);
    auto it = objects_.find(path);
    return it == objects_.end() ? "" : it->second;
  }
  std::string authorization() {
    absl::MutexLock l(&mu_);
    return authorization_;
  }

 private:
  http::Response Store(const http::Request& req) {
    if (req.method() != bh::verb::put) {
      return http::Text(req, bh::status::method_not_allowed, "PUT only\n");
    }
    absl::MutexLock l(&mu_);
    objects_[std::string(req.target())] = req.body();
    authorization_ = std::string(req[bh::field::authorization]);
    return http::Text(req, bh::status::ok, "stored\n");
  }

  absl::Mutex mu_;
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
  http::Server server_;
};

std::string Token(const std::string& sub, v1::Role role) {
  return auth::MintJwt({.sub = sub,
                        .role = role,
                        .room = "lobby",
                        .exp = absl::ToUnixSeconds(absl::Now()) + 600},
                       kJwtSecret);
}

HttpResponse Call(const std::string& method, const std::string& url,
                  const std::string& body, const std::string& token) {
  return Fetch(
      method, url, body,
      {"Authorization: Bearer " + token, "Content-Type: application/json"});
}

class PublisherServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(origin_.Start().ok()); }

  PublisherServerOptions Options(std::string hint_master = "") {
    return {.listen = "127.0.0.1:0",
            .origin_url = origin_.url(),
            .jwt_secret = kJwtSecret,
            .write_secret = kWriteSecret,
            .publisher = {.id = "pub-1",
                          .data_dir = dir_.path(),
                          .hint_master_secret = std::move(hint_master),
                          .tick_ms = 10,
                          .sync = false},
            .threads = 1,
            .flush_ms = 5000};
  }
  std::string HintKey(PublisherServer& server) {
    HttpResponse r = Call("GET", server.url() + "/v1/rooms/lobby/peer/u2/key",
                          "", Token("u2", v1::ROLE_AUDIENCE));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  StandInOrigin origin_;
  testing::TempDir dir_;
};

TEST_F(PublisherServerTest, ServesIngestAndPublishesWhatItAckedByTheEndOfStop) {
  PublisherServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(Fetch("GET", server.url() + "/healthz").status, 200);
  const std::string service = Token("svc", v1::ROLE_SERVICE);
  ASSERT_EQ(Call("POST", server.url() + "/v1/rooms/lobby",
                 R"({"bucket_ms": 100})", service)
                .status,
            200);
  HttpResponse post = Call("POST", server.url() + "/v1/rooms/lobby/messages",
                           R"({"type": "comment", "text": "hello"})",
                           Token("u1", v1::ROLE_AUDIENCE));
  ASSERT_EQ(post.status, 200) << post.body;

  EXPECT_TRUE(server.Stop().ok());
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(origin_.Get(segmenter::ManifestPath("lobby"))));
  EXPECT_EQ(m.last_seq(), 1u);
  ASSERT_EQ(m.recent_segments_size(), 1);
  const std::string segment = origin_.Get(
      segmenter::SegmentPath("lobby", 100, m.recent_segments(0).index()));
  EXPECT_NE(segment.find("hello"), std::string::npos);
  EXPECT_FALSE(origin_.Get(segmenter::WatermarkPath("pub-1")).empty());
  EXPECT_EQ(origin_.authorization(), std::string("Bearer ") + kWriteSecret);
  EXPECT_TRUE(server.Stop().ok());  // again: nothing left to do
}

TEST_F(PublisherServerTest, HintMasterDefaultsToTheOneDerivedFromTheJwtSecret) {
  std::string derived_key;
  {
    PublisherServer server(Options());
    ASSERT_TRUE(server.Start().ok());
    ASSERT_EQ(Call("POST", server.url() + "/v1/rooms/lobby", "",
                   Token("svc", v1::ROLE_SERVICE))
                  .status,
              200);
    derived_key = HintKey(server);
  }
  PublisherServer named(Options(DeriveHintMaster(kJwtSecret)));
  ASSERT_TRUE(named.Start().ok());
  EXPECT_EQ(HintKey(named), derived_key);
  ASSERT_TRUE(named.Stop().ok());
  PublisherServer other(Options("another-master"));
  ASSERT_TRUE(other.Start().ok());
  EXPECT_NE(HintKey(other), derived_key);
}

TEST_F(PublisherServerTest, StartReportsALogThatCannotBeOpened) {
  PublisherServerOptions o = Options();
  o.publisher.data_dir = "/proc/no-such-dir/log";
  PublisherServer server(std::move(o));
  EXPECT_FALSE(server.Start().ok());
  EXPECT_TRUE(server.Stop().ok());
}

}  // namespace
}  // namespace roomcast::publisher
