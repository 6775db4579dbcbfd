// http::Transfer against a scripted HTTP/1.1 server on 127.0.0.1
// (tests/support/scripted_server.h): what goes out, what comes back, and
// how transport failures read.
#include "http/curl.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/scripted_server.h"

namespace roomcast::http {
namespace {

using roomcast::testing::RefusingPort;
using roomcast::testing::ScriptedServer;
using Reply = ScriptedServer::Reply;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kPath[] = "/v1/rooms/lobby/actions/1000/42.pb";

class TransferTest : public ::testing::Test {
 protected:
  absl::StatusOr<ClientReply> Run(ClientRequest request) {
    return Transfer(easy_.get(), request).Perform();
  }
  std::string Url() const { return server_.url() + kPath; }

  ScriptedServer server_;
  CurlEasy easy_ = NewCurlEasy();
};

TEST_F(TransferTest, ReturnsStatusHeadersAndTheRawBody) {
  Reply seg = Reply::Respond(200, std::string("\x1f\x8b\0gz", 5));
  seg.headers = {{"ETag", "\"abc\""},
                 {"Cache-Control", "public, max-age=31536000, immutable"},
                 {"Content-Encoding", "gzip"}};
  server_.Script({seg});

  absl::StatusOr<ClientReply> r =
      Run({.url = Url(),
           .headers = {"Accept-Encoding: gzip", "If-None-Match: \"x\""}});

  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::string("\x1f\x8b\0gz", 5)) << "must not decode";
  EXPECT_EQ(r->Header("etag"), "\"abc\"");
  EXPECT_EQ(r->MaxAge(), 31536000);
  EXPECT_EQ(r->Header("content-encoding"), "gzip");
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, kPath);
  EXPECT_EQ(reqs[0].headers.at("if-none-match"), "\"x\"");
  EXPECT_EQ(reqs[0].headers.count("user-agent"), 0u);
}

TEST_F(TransferTest, AnyHttpStatusIsAReplyOnTheSameConnection) {
  Reply missing = Reply::Respond(404, "not yet");
  missing.headers = {{"Cache-Control", "public, max-age=1"}};
  server_.Script({missing, Reply::Respond(503)});

  absl::StatusOr<ClientReply> r = Run({.url = Url()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "not yet");
  EXPECT_EQ(r->MaxAge(), 1);
  r = Run({.url = Url()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(server_.connections(), 1) << "a reused handle keeps its connection";
}

// A caller never buffers more than it asked for, whatever the server sends.
TEST_F(TransferTest, AReplyPastItsLimitsIsResourceExhausted) {
  Reply big = Reply::Respond(200, std::string(100'000, 'x'));
  Reply many = Reply::Respond(200, "small");
  for (int i = 0; i < 40; ++i) {
    many.headers.push_back({absl::StrCat("X-Pad-", i), std::string(1000, 'h')});
  }
  server_.Script({Reply::Respond(200, std::string(10'000, 'y')), big, many});

  absl::StatusOr<ClientReply> at = Run({.url = Url(), .max_reply_body_bytes = 10'000});
  ASSERT_TRUE(at.ok()) << at.status() << ": exactly the limit is fine";
  EXPECT_EQ(at->body.size(), 10'000u);
  absl::StatusOr<ClientReply> over = Run({.url = Url(), .max_reply_body_bytes = 10'000});
  EXPECT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  absl::StatusOr<ClientReply> headers = Run({.url = Url(), .max_reply_header_bytes = 8192});
  EXPECT_TRUE(absl::IsResourceExhausted(headers.status())) << headers.status();
}

TEST_F(TransferTest, ABodySinkTakesA2xxBodyAndOnlyThatUnderTheSameLimit) {
  server_.Script({Reply::Respond(200, std::string(5000, 's')),
                  Reply::Respond(404, R"({"error":"not found","detail":"x"})"),
                  Reply::Respond(200, std::string(10'001, 's'))});
  std::string sunk;
  auto sink = [&](absl::string_view piece) { sunk.append(piece.data(), piece.size()); };

  absl::StatusOr<ClientReply> ok =
      Run({.url = Url(), .max_reply_body_bytes = 10'000, .body_sink = sink});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(sunk, std::string(5000, 's'));
  EXPECT_TRUE(ok->body.empty()) << "a sunk body is not kept twice";
  // An error's body is the reply's, as without a sink.
  sunk.clear();
  absl::StatusOr<ClientReply> error =
      Run({.url = Url(), .max_reply_body_bytes = 10'000, .body_sink = sink});
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->status, 404);
  EXPECT_TRUE(sunk.empty());
  EXPECT_NE(error->body.find("not found"), std::string::npos);
  // The limit counts what went to the sink.
  absl::StatusOr<ClientReply> over =
      Run({.url = Url(), .max_reply_body_bytes = 10'000, .body_sink = sink});
  EXPECT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  EXPECT_LE(sunk.size(), 10'000u);
}

TEST_F(TransferTest, ABodyGoesWithContentLengthAndNoExpect) {
  const std::string body(100000, 'x');  // big enough for libcurl to Expect
  absl::StatusOr<ClientReply> r = Run({.method = "PUT",
                                       .url = Url(),
                                       .headers = {"Content-Type: a/b"},
                                       .body = body,
                                       .user_agent = "roomcast-test/1"});

  ASSERT_TRUE(r.ok()) << r.status();
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_TRUE(reqs[0].body == body);
  EXPECT_EQ(reqs[0].headers.at("content-length"), "100000");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "a/b");
  EXPECT_EQ(reqs[0].headers.at("user-agent"), "roomcast-test/1");
  EXPECT_EQ(reqs[0].headers.count("expect"), 0u);
}

TEST_F(TransferTest, AnEmptyBodyIsSentAsContentLengthZero) {
  // A default string_view has no data pointer; libcurl must not take that
  // as "read the body from stdin".
  absl::StatusOr<ClientReply> r =
      Run({.method = "POST", .url = Url(), .body = absl::string_view()});

  ASSERT_TRUE(r.ok()) << r.status();
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].headers.at("content-length"), "0");
}

TEST_F(TransferTest, OtherMethodsWithoutABodySendNone) {
  absl::StatusOr<ClientReply> r = Run({.method = "DELETE", .url = Url()});

  ASSERT_TRUE(r.ok()) << r.status();
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].headers.count("content-length"), 0u);
}

TEST_F(TransferTest, AcceptEncodingIsOffered) {
  absl::StatusOr<ClientReply> r =
      Run({.url = Url(), .accept_encoding = "gzip"});

  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_.requests().at(0).headers.at("accept-encoding"), "gzip");
}

TEST_F(TransferTest, AHangingServerIsDeadlineExceeded) {
  server_.SetDefault(Reply::Of(Reply::Kind::kHang));
  const auto start = Clock::now();

  absl::StatusOr<ClientReply> r =
      Run({.url = Url(), .timeout = milliseconds(300)});

  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("GET " + Url()), absl::string_view::npos)
      << "the message names the request";
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
}

TEST_F(TransferTest, ARefusedConnectionIsUnavailable) {
  const RefusingPort refusing;

  absl::StatusOr<ClientReply> r = Run({.url = refusing.url() + "/"});

  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
}

TEST_F(TransferTest, AMalformedUrlIsInvalidArgument) {
  absl::StatusOr<ClientReply> r = Run({.url = "ftp://127.0.0.1/x"});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(TransferTest, TheShutdownDeadlineAbortsARunningTransfer) {
  server_.SetDefault(Reply::Of(Reply::Kind::kHang));
  std::atomic<int64_t> shutdown_ns{std::numeric_limits<int64_t>::max()};
  const auto start = Clock::now();
  std::thread shutdown([&] {
    std::this_thread::sleep_for(milliseconds(200));
    shutdown_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      Clock::now().time_since_epoch())
                      .count();
  });

  absl::StatusOr<ClientReply> r = Run({.url = Url(),
                                       .timeout = milliseconds(5000),
                                       .shutdown_deadline_ns = &shutdown_ns});
  shutdown.join();

  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
}

}  // namespace
}  // namespace roomcast::http
