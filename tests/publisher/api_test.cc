// The ingest API over real HTTP on 127.0.0.1: http::Server + IngestApi +
// the real publisher (RocksDB in a temp dir, fake clock, in-memory origin).
#include "publisher/api.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "roomcast/v1/ingest.pb.h"
#include "tests/publisher/publisher_harness.h"
#include "tests/support/http_client.h"

namespace roomcast::publisher {
namespace {

using ::testing::HasSubstr;
using roomcast::testing::Fetch;
using roomcast::testing::Headers;
using roomcast::testing::HttpResponse;
using testing::kT0;

constexpr char kSecret[] = "jwt-secret";
constexpr int64_t kNowS = kT0 / 1000;

std::string Token(const std::string& sub, v1::Role role,
                  const std::string& room = "lobby", int64_t exp = kNowS + 600,
                  const std::string& secret = kSecret) {
  return auth::MintJwt({.sub = sub, .role = role, .room = room, .exp = exp}, secret);
}
Headers Bearer(const std::string& token) {
  return {"Authorization: Bearer " + token, "Content-Type: application/json"};
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PublisherOptions o;
    o.rates = {.user_per_s = 1, .user_burst = 4, .room_per_s = 0};
    h_ = std::make_unique<testing::Harness>(o);
    api_ = std::make_unique<IngestApi>(h_->pub.get(),
                                       ApiOptions{.jwt_secret = kSecret, .clock = &h_->clock});
    server_ = std::make_unique<http::Server>(
        http::ServerOptions{.listen = "127.0.0.1:0", .threads = 1,
                            .max_body_bytes = 64 << 10},
        [this](http::Request& r) { return api_->Handle(r); });
    ASSERT_TRUE(server_->Start().ok());
    base_ = server_->url();
    service_ = Token("svc", v1::ROLE_SERVICE, "*");
  }
  void TearDown() override { server_->Stop(); }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body, const std::string& token) {
    return Fetch(method, base_ + path, body, Bearer(token));
  }
  void OpenLobby() {
    ASSERT_EQ(Call("POST", "/v1/rooms/lobby", R"({"bucket_ms": 500})", service_).status, 200);
  }
  static std::string ErrorOf(const HttpResponse& r) {
    v1::ErrorReply e;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &e).ok()) << r.body;
    EXPECT_FALSE(e.detail().empty());
    return e.error();
  }

  std::unique_ptr<testing::Harness> h_;
  std::unique_ptr<IngestApi> api_;
  std::unique_ptr<http::Server> server_;
  std::string base_, service_;
};

TEST_F(ApiTest, AuthMatrixAnswersWithJsonErrorsAndStoresNothing) {
  OpenLobby();
  const std::string body = R"({"type": "comment", "text": "hi"})";
  const std::string path = "/v1/rooms/lobby/messages";
  auto none = Fetch("POST", base_ + path, body, {"Content-Type: application/json"});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ErrorOf(none), "unauthorized");
  const std::string payload = absl::WebSafeBase64Escape(absl::StrCat(
      R"({"sub":"u","role":"audience","room":"lobby","exp":)", kNowS + 600, "}"));
  const std::string alg_none =
      absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"none"})"), ".", payload, ".");
  for (const std::string& t :
       {Token("u", v1::ROLE_AUDIENCE, "lobby", kNowS + 600, "wrong-secret"),
        alg_none, Token("u", v1::ROLE_AUDIENCE, "lobby", kNowS - 1),
        std::string("garbage")}) {
    HttpResponse r = Call("POST", path, body, t);
    EXPECT_EQ(r.status, 401) << t;
    EXPECT_EQ(ErrorOf(r), "unauthorized");
  }
  HttpResponse wrong_room = Call("POST", path, body, Token("u", v1::ROLE_AUDIENCE, "other"));
  EXPECT_EQ(wrong_room.status, 403);
  EXPECT_EQ(ErrorOf(wrong_room), "forbidden");
  HttpResponse wrong_role = Call("PUT", "/v1/rooms/lobby/state/title", R"("t")",
                                 Token("u", v1::ROLE_AUDIENCE));
  EXPECT_EQ(wrong_role.status, 403) << wrong_role.body;
  EXPECT_EQ(h_->Metric("roomcast_publisher_messages_accepted_total"), 0);
}

// A token that verified once is remembered, but never past its exp, and a
// token differing in any byte (its signature) is verified afresh.
TEST_F(ApiTest, RememberedTokenStillExpiresAndForgeriesStillFail) {
  OpenLobby();
  const std::string path = "/v1/rooms/lobby/messages";
  const std::string body = R"({"type":"comment","text":"hi"})";
  const std::string anchor = Token("host", v1::ROLE_ANCHOR, "lobby", kNowS + 10);
  ASSERT_EQ(Call("POST", path, body, anchor).status, 200);
  ASSERT_EQ(Call("POST", path, body, anchor).status, 200);
  // Forgeries: a signature character changed, and the same signature
  // spelled with one of its unused low bits set. Neither may ride on the
  // remembered verification of the real token.
  constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string forged = anchor;
  char& first = forged[forged.rfind('.') + 1];
  first = first == 'A' ? 'B' : 'A';
  EXPECT_EQ(Call("POST", path, body, forged).status, 401);
  std::string respelled = anchor;
  respelled.back() = kAlphabet[kAlphabet.find(respelled.back()) | 1];
  EXPECT_EQ(Call("POST", path, body, respelled).status, 401);
  h_->clock.Advance(10'000);  // now == exp
  HttpResponse late = Call("POST", path, body, anchor);
  EXPECT_EQ(late.status, 401) << late.body;
  EXPECT_EQ(ErrorOf(late), "unauthorized");
  EXPECT_EQ(h_->Metric("roomcast_publisher_messages_accepted_total"), 2);
}

TEST_F(ApiTest, PostSingleAndBatchInJsonAndProtobuf) {
  OpenLobby();
  const std::string viewer = Token("u1", v1::ROLE_AUDIENCE);
  HttpResponse one = Call("POST", "/v1/rooms/lobby/messages",
                          R"({"type":"comment","text":"hi","client_msg_id":"c-1"})", viewer);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_THAT(one.body, HasSubstr(R"("seq":1)"));
  EXPECT_THAT(one.body, HasSubstr(R"("bucket_ms":500)"));
  HttpResponse batch = Call(
      "POST", "/v1/rooms/lobby/messages",
      R"({"messages":[{"type":"like","count":3},{"type":"comment","text":"hi","client_msg_id":"c-1"}]})",
      viewer);
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_THAT(batch.body, HasSubstr(R"({"results":[{"seq":2,)"));
  EXPECT_THAT(batch.body, HasSubstr(R"(,{"seq":1,)"));  // the retry

  v1::PostMessagesRequest req;
  req.add_messages()->set_type("enter");
  HttpResponse pb = Fetch("POST", base_ + "/v1/rooms/lobby/messages",
                          req.SerializeAsString(),
                          {"Authorization: Bearer " + viewer,
                           "Content-Type: application/x-protobuf"});
  ASSERT_EQ(pb.status, 200);
  v1::PostMessagesResponse res;
  ASSERT_TRUE(res.ParseFromString(pb.body));
  EXPECT_EQ(res.results(0).seq(), 3u);
}

TEST_F(ApiTest, ClientErrorsMapToTheirStatus) {
  const std::string viewer = Token("u1", v1::ROLE_AUDIENCE);
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby/messages", R"({"type":"comment","text":"x"})", viewer).status, 404);
  OpenLobby();
  HttpResponse bad = Call("POST", "/v1/rooms/lobby/messages", "{not json", viewer);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorOf(bad), "bad_request");
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby/messages", R"({"type":"comment","text":")" +
                                                          std::string(3000, 'x') + R"("})",
                 viewer).status, 413);
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby/messages", std::string(70 << 10, ' '), viewer).status, 413);
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby", R"({"bucket_ms": 5})", service_).status, 400);
  EXPECT_EQ(Call("GET", "/v1/nothing", "", viewer).status, 404);
  int limited = 0;
  std::string retry_after;
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = Call("POST", "/v1/rooms/lobby/messages", R"({"type":"like"})", viewer);
    if (r.status == 429) {
      ++limited;
      retry_after = r.header("retry-after");
      EXPECT_EQ(ErrorOf(r), "rate_limited");
    }
  }
  EXPECT_GT(limited, 0);
  EXPECT_EQ(retry_after, "1");
}

TEST_F(ApiTest, StatePeerKeyPresenceAndEnd) {
  OpenLobby();
  const std::string anchor = Token("host", v1::ROLE_ANCHOR);
  HttpResponse st = Call("PUT", "/v1/rooms/lobby/state/title", R"({"text":"Friday"})", anchor);
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_THAT(st.body, HasSubstr(R"("version":1)"));
  HttpResponse peer = Call("POST", "/v1/rooms/lobby/peer/u2",
                           R"({"type":"comment","text":"thanks"})", anchor);
  ASSERT_EQ(peer.status, 200) << peer.body;
  EXPECT_THAT(peer.body, HasSubstr(R"("bucket":)"));
  HttpResponse key = Call("GET", "/v1/rooms/lobby/peer/u2/key", "", Token("u2", v1::ROLE_AUDIENCE));
  ASSERT_EQ(key.status, 200) << key.body;
  EXPECT_EQ(key.header("cache-control"), "private, no-store");
  EXPECT_THAT(key.body, HasSubstr(R"("key":)"));
  EXPECT_EQ(Call("GET", "/v1/rooms/lobby/peer/u2/key", "", Token("u3", v1::ROLE_AUDIENCE)).status, 403);
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby/presence", "", Token("u2", v1::ROLE_AUDIENCE)).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/rooms/lobby", "", anchor).status, 200);
  EXPECT_EQ(Call("POST", "/v1/rooms/lobby/messages", R"({"type":"like"})", anchor).status, 404);
}

TEST_F(ApiTest, HealthAndMetrics) {
  HttpResponse health = Fetch("GET", base_ + "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.header("cache-control"), "no-store");
  OpenLobby();
  ASSERT_EQ(Call("POST", "/v1/rooms/lobby/messages", R"({"type":"like"})",
                 Token("u1", v1::ROLE_AUDIENCE)).status, 200);
  HttpResponse m = Fetch("GET", base_ + "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_THAT(m.body, HasSubstr("roomcast_publisher_messages_accepted_total 1\n"));
  EXPECT_THAT(m.body, HasSubstr("roomcast_publisher_ack_latency_seconds_bucket"));
}

}  // namespace
}  // namespace roomcast::publisher
