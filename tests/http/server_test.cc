// The shared HTTP server, exercised over real loopback sockets.
#include "http/server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>

namespace roomcast::http {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Answers "/hold/N" after N ms; anything else at once with its target.
asio::awaitable<Response> Echo(Request& req) {
  std::string target(req.target());
  if (target.starts_with("/hold/")) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(std::stoi(target.substr(6))));
    co_await t.async_wait(asio::use_awaitable);
  }
  if (target == "/throw") throw std::runtime_error("boom");
  co_return Text(req, beast_http::status::ok, "you asked for " + target);
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions o = {}) {
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    server_ = std::make_unique<Server>(o, Echo);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }
  tcp::socket Connect() {
    tcp::socket s(io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  // Sends raw bytes and reads until the server closes or `until` appears.
  static std::string Exchange(tcp::socket& s, const std::string& raw,
                              const std::string& until = "") {
    asio::write(s, asio::buffer(raw));
    std::string got;
    char buf[4096];
    boost::system::error_code ec;
    while (until.empty() || got.find(until) == std::string::npos) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      got.append(buf, n);
    }
    return got;
  }

  asio::io_context io_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, AnswersWithDateAndContentLength) {
  StartServer();
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()));
  tcp::socket s = Connect();
  std::string got = Exchange(s, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  EXPECT_NE(got.find("Date: "), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Length: 16\r\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("you asked for /a")) << got;
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  tcp::socket s = Connect();
  for (int i = 0; i < 3; ++i) {
    std::string got = Exchange(s, "GET /k" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n",
                               "/k" + std::to_string(i));
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK")) << got;
  }
}

TEST_F(ServerTest, HeadHasTheLengthButNoBody) {
  StartServer();
  tcp::socket s = Connect();
  std::string got = Exchange(s, "HEAD /abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(got.find("Content-Length: 18\r\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("\r\n\r\n")) << got;
}

TEST_F(ServerTest, OversizedBodyGets413AndNoHandlerCall) {
  StartServer({.max_body_bytes = 10});
  tcp::socket s = Connect();
  std::string got = Exchange(
      s, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 413")) << got;
  EXPECT_NE(got.find("\"error\":\"too_large\""), std::string::npos) << got;
  EXPECT_EQ(got.find("you asked"), std::string::npos);
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  StartServer({.max_header_bytes = 256});
  tcp::socket s = Connect();
  std::string got = Exchange(
      s, "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 431")) << got;
}

TEST_F(ServerTest, MalformedRequestGets400) {
  StartServer();
  tcp::socket s = Connect();
  std::string got = Exchange(s, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 400")) << got;
  EXPECT_NE(got.find("application/json"), std::string::npos) << got;
}

TEST_F(ServerTest, SlowClientIsDisconnected) {
  StartServer({.read_timeout = 200ms, .idle_timeout = 200ms});
  tcp::socket s = Connect();
  const auto t0 = std::chrono::steady_clock::now();
  std::string got = Exchange(s, "GET /slow HTTP/1.1\r\nHost: x\r\n");  // never ends
  EXPECT_EQ(got, "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(ServerTest, HeldRequestsDoNotBlockOthers) {
  StartServer({.threads = 1});
  // 50 held requests on one thread, then a quick one that must not wait.
  std::vector<tcp::socket> held;
  for (int i = 0; i < 50; ++i) {
    held.push_back(Connect());
    asio::write(held.back(), asio::buffer(std::string("GET /hold/800 HTTP/1.1\r\nHost: x\r\n\r\n")));
  }
  tcp::socket quick = Connect();
  const auto t0 = std::chrono::steady_clock::now();
  std::string got = Exchange(quick, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n", "/now");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 700ms);
  for (auto& s : held) {
    EXPECT_NE(Exchange(s, "", "/hold/800").find("200 OK"), std::string::npos);
  }
}

TEST_F(ServerTest, HandlerExceptionGives500) {
  StartServer();
  tcp::socket s = Connect();
  std::string got = Exchange(s, "GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 500")) << got;
}

TEST_F(ServerTest, StopLetsInFlightRequestsFinish) {
  StartServer();
  tcp::socket s = Connect();
  asio::write(s, asio::buffer(std::string("GET /hold/300 HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::this_thread::sleep_for(50ms);
  server_->Stop();
  std::string got = Exchange(s, "");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200")) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  // And nothing listens any more.
  tcp::socket again(io_);
  boost::system::error_code ec;
  again.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec);
}

TEST(ParseHostPortTest, AcceptsAndRejects) {
  auto hp = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 8080);
  EXPECT_EQ(ParseHostPort("[::1]:0")->first, "::1");
  EXPECT_FALSE(ParseHostPort("8080").ok());
  EXPECT_FALSE(ParseHostPort("host:99999").ok());
  EXPECT_FALSE(ParseHostPort("host:x").ok());
}

}  // namespace
}  // namespace roomcast::http
