// CurlUploader against a real HTTP/1.1 server on 127.0.0.1, started by the
// test and scripted per request (tests/support/scripted_server.h): answer,
// hang, or reset the connection.
#include "publisher/curl_uploader.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/scripted_server.h"

namespace roomcast::publisher {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using roomcast::testing::RefusingPort;
using roomcast::testing::ScriptedServer;
using Reply = ScriptedServer::Reply;
using Kind = Reply::Kind;

// 64 KiB of every byte value, with NULs and header terminators in it: a
// retry must send exactly these bytes.
std::string BinaryBody() {
  std::string body;
  for (int i = 0; i < 65536; ++i) body.push_back(static_cast<char>(i * 7));
  body.replace(1000, 4, "\r\n\r\n");
  return body;
}

constexpr char kPath[] = "/v1/rooms/lobby/actions/1000/42.pb";
constexpr char kProto[] = "application/x-protobuf";

class CurlUploaderTest : public ::testing::Test {
 protected:
  // Short timeouts and tiny backoff keep every test within a few seconds.
  UploadOptions Options() {
    UploadOptions o;
    o.base_url = server_.url() + "/";  // a trailing slash is tolerated
    o.write_secret = "s3cret";
    o.connect_timeout = milliseconds(500);
    o.request_timeout = milliseconds(2000);
    o.max_total = milliseconds(4000);
    o.backoff_base = milliseconds(10);
    o.backoff_max = milliseconds(50);
    return o;
  }

  ScriptedServer server_;
};

TEST_F(CurlUploaderTest, RetriesServerErrorsWithIdenticalBytes) {
  server_.Script({Reply::Respond(503), Reply::Respond(503), Reply::Respond(200)});
  CurlUploader up(Options());
  const std::string body = BinaryBody();

  ASSERT_TRUE(up.Put(kPath, body, kProto).ok());

  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.target, kPath);
    EXPECT_TRUE(r.body == body) << "retry sent other bytes";
    EXPECT_EQ(r.headers.at("content-length"), absl::StrCat(body.size()));
    EXPECT_EQ(r.headers.at("content-type"), kProto);
    EXPECT_EQ(r.headers.at("authorization"), "Bearer s3cret");
    EXPECT_EQ(r.headers.count("expect"), 0u);
  }
  EXPECT_EQ(server_.connections(), 1) << "a 503 must not cost the connection";
  EXPECT_EQ(up.attempts(), 3u);
}

TEST_F(CurlUploaderTest, ConflictIsAlreadyExistsAndNotRetried) {
  server_.Script({Reply::Respond(409, "other bytes")});
  CurlUploader up(Options());

  const absl::Status s = up.Put(kPath, "body", kProto);

  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_NE(s.message().find("other bytes"), absl::string_view::npos) << s;
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(CurlUploaderTest, ClientErrorsArePermanentAndNotRetried) {
  const std::vector<std::pair<int, absl::StatusCode>> cases = {
      {400, absl::StatusCode::kInvalidArgument},
      {401, absl::StatusCode::kUnauthenticated},
      {403, absl::StatusCode::kPermissionDenied},
      {404, absl::StatusCode::kInvalidArgument},
      {413, absl::StatusCode::kInvalidArgument},
      {418, absl::StatusCode::kFailedPrecondition},
  };
  CurlUploader up(Options());
  size_t expected_requests = 0;
  for (const auto& [http, code] : cases) {
    server_.Script({Reply::Respond(http)});
    const absl::Status s = up.Put(kPath, "body", kProto);
    EXPECT_EQ(s.code(), code) << http << ": " << s;
    EXPECT_FALSE(IsRetryableUploadError(s)) << http;
    EXPECT_EQ(server_.requests().size(), ++expected_requests)
        << "HTTP " << http << " was retried";
  }
}

TEST_F(CurlUploaderTest, PersistentServerErrorsGiveUpAsUnavailable) {
  server_.SetDefault(Reply::Respond(500));
  UploadOptions o = Options();
  o.max_total = milliseconds(600);
  o.backoff_factory = [] {
    return std::make_unique<base::FixedBackOff>(milliseconds(50));
  };
  CurlUploader up(o);
  const auto start = Clock::now();

  const absl::Status s = up.Put(kPath, "body", kProto);

  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("gave up"), absl::string_view::npos) << s;
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  const size_t n = server_.requests().size();
  EXPECT_GE(n, 3u);   // ~600 / 50 in theory; retried several times
  EXPECT_LE(n, 13u);  // and the fixed wait was respected
}

TEST_F(CurlUploaderTest, HangingServerTimesOutWithinTheBudget) {
  server_.SetDefault(Reply::Of(Kind::kHang));
  UploadOptions o = Options();
  // The second attempt starts ~800 ms in: it must be cut at the 1 s
  // budget, not run its own 800 ms.
  o.request_timeout = milliseconds(800);
  o.max_total = milliseconds(1000);
  CurlUploader up(o);
  const auto start = Clock::now();

  const absl::Status s = up.Put(kPath, "body", kProto);

  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_TRUE(IsRetryableUploadError(s));
  EXPECT_GE(elapsed, milliseconds(950));
  EXPECT_LT(elapsed, milliseconds(1400)) << "an attempt overran max_total";
  EXPECT_GE(server_.requests().size(), 2u) << "a timeout is retryable";
}

TEST_F(CurlUploaderTest, ConnectionResetMidRequestIsRetriedOnANewConnection) {
  server_.Script({Reply::Of(Kind::kReset), Reply::Respond(200)});
  CurlUploader up(Options());
  const std::string body = BinaryBody();

  ASSERT_TRUE(up.Put(kPath, body, kProto).ok());

  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[1].body == body);
  EXPECT_EQ(server_.connections(), 2);
}

TEST_F(CurlUploaderTest, TooManyRequestsWaitsForRetryAfter) {
  Reply busy = Reply::Respond(429);
  busy.headers = {{"Retry-After", "1"}};
  server_.Script({busy, Reply::Respond(200)});
  UploadOptions o = Options();
  // No backoff of its own: any wait seen comes from Retry-After.
  o.backoff_factory = [] {
    return std::make_unique<base::FixedBackOff>(milliseconds(0));
  };
  CurlUploader up(o);
  const auto start = Clock::now();

  ASSERT_TRUE(up.Put(kPath, "body", kProto).ok());

  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(950));
  EXPECT_LT(elapsed, milliseconds(2500));
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(CurlUploaderTest, RetryAfterAsAnHttpDateIsHonoured) {
  Reply busy = Reply::Respond(503);
  busy.headers = {{"Retry-After",
                   absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                    absl::Now() + absl::Seconds(2),
                                    absl::UTCTimeZone())}};
  server_.Script({busy, Reply::Respond(200)});
  UploadOptions o = Options();
  o.backoff_factory = [] {
    return std::make_unique<base::FixedBackOff>(milliseconds(0));
  };
  CurlUploader up(o);
  const auto start = Clock::now();

  ASSERT_TRUE(up.Put(kPath, "body", kProto).ok());

  // Whole seconds: the date is 1 to 2 s ahead once truncated.
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(3000));
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(CurlUploaderTest, RetryAfterBeyondTheBudgetGivesUpAtOnce) {
  Reply busy = Reply::Respond(503);
  busy.headers = {{"Retry-After", "120"}};
  server_.SetDefault(busy);
  CurlUploader up(Options());
  const auto start = Clock::now();

  const absl::Status s = up.Put(kPath, "body", kProto);

  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(CurlUploaderTest, SequentialPutsReuseOneConnection) {
  CurlUploader up(Options());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(up.Put(absl::StrCat("/v1/rooms/r/actions/1000/", i, ".pb"),
                       absl::StrCat("segment ", i), kProto)
                    .ok());
  }
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[4].body, "segment 4");
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(CurlUploaderTest, ServerClosingAKeptAliveConnectionIsTransparent) {
  server_.Script({Reply::Of(Kind::kRespondThenClose), Reply::Respond(200)});
  CurlUploader up(Options());

  ASSERT_TRUE(up.Put(kPath, "first", kProto).ok());
  std::this_thread::sleep_for(milliseconds(50));  // let the FIN land
  ASSERT_TRUE(up.Put(kPath, "second", kProto).ok());

  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].body, "second");
  EXPECT_EQ(server_.connections(), 2);
  EXPECT_EQ(up.attempts(), 2u) << "a dead idle connection cost a retry";
}

TEST_F(CurlUploaderTest, PathWithoutLeadingSlashIsRejectedUnsent) {
  CurlUploader up(Options());
  EXPECT_TRUE(absl::IsInvalidArgument(up.Put("v1/rooms/x", "b", kProto)));
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(CurlUploaderTest, ConcurrentPutsAllLand) {
  CurlUploader up(Options());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (up.Put(absl::StrCat("/v1/rooms/r", t, "/actions/1000/", i, ".pb"),
                   "x", kProto)
                .ok()) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(server_.requests().size(), 20u);
  EXPECT_LE(server_.connections(), 4) << "handles are pooled, not per call";
}

TEST_F(CurlUploaderTest, ConnectionRefusedIsUnavailableWithinTheBudget) {
  const RefusingPort refusing;  // held for the whole test
  UploadOptions o = Options();
  o.base_url = refusing.url();
  o.max_total = milliseconds(300);
  // Every wait is 25 ms, so the budget allows at most 300 / 25 waits: the
  // count of attempts says whether the budget was kept, however fast or
  // slow this machine runs.
  o.backoff_factory = [] {
    return std::make_unique<base::FixedBackOff>(milliseconds(25));
  };
  CurlUploader up(o);

  const absl::Status s = up.Put(kPath, "body", kProto);

  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_GT(up.attempts(), 1u) << "a refused connect is retryable";
  EXPECT_LE(up.attempts(), 300u / 25u + 1u) << "no retry past the budget";
}

TEST_F(CurlUploaderTest, SetDeadlineAbortsARunningTransfer) {
  server_.SetDefault(Reply::Of(Kind::kHang));
  UploadOptions o = Options();
  o.request_timeout = milliseconds(5000);
  o.max_total = milliseconds(5000);
  CurlUploader up(o);
  const auto start = Clock::now();
  std::thread shutdown([&] {
    std::this_thread::sleep_for(milliseconds(200));
    up.SetDeadline(Clock::now());
  });

  const absl::Status s = up.Put(kPath, "body", kProto);
  shutdown.join();

  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_EQ(server_.requests().size(), 1u);
  // After shutdown, nothing more is sent.
  EXPECT_TRUE(absl::IsDeadlineExceeded(up.Put(kPath, "body", kProto)));
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(CurlUploaderTest, SetDeadlineCutsABackoffWaitShort) {
  Reply busy = Reply::Respond(503);
  busy.headers = {{"Retry-After", "10"}};
  server_.SetDefault(busy);
  UploadOptions o = Options();
  o.max_total = milliseconds(20000);
  CurlUploader up(o);
  const auto start = Clock::now();
  std::thread shutdown([&] {
    std::this_thread::sleep_for(milliseconds(200));
    up.SetDeadline(Clock::now() + milliseconds(100));
  });

  const absl::Status s = up.Put(kPath, "body", kProto);
  shutdown.join();

  EXPECT_TRUE(IsRetryableUploadError(s)) << s;
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  EXPECT_EQ(server_.requests().size(), 1u);
}


// A cluster engine's lease (SetValidUntil): once it has passed, not one
// byte of a PUT or a live POST reaches the origin; a renewal lets them go
// again, and the earlier of the two bounds wins.
TEST_F(CurlUploaderTest, PastItsValidUntilNothingReachesTheOrigin) {
  server_.SetDefault(Reply::Respond(200));
  CurlUploader up(Options());
  up.SetValidUntil(Clock::now() - milliseconds(1));

  EXPECT_TRUE(IsRetryableUploadError(up.Put(kPath, "body", kProto)));
  EXPECT_FALSE(up.Post("/v1/live", "batch", kProto).ok());
  EXPECT_EQ(server_.requests().size(), 0u);
  EXPECT_EQ(server_.connections(), 0) << "not even a connection";

  up.SetValidUntil(Clock::time_point::max());  // renewed
  EXPECT_TRUE(up.Put(kPath, "body", kProto).ok());
  ASSERT_EQ(server_.requests().size(), 1u);

  up.SetDeadline(Clock::now() - milliseconds(1));  // shutting down
  up.SetValidUntil(Clock::time_point::max());      // does not lift it
  EXPECT_TRUE(IsRetryableUploadError(up.Put(kPath, "body", kProto)));
  EXPECT_EQ(server_.requests().size(), 1u);
}

// A lease renewed while a slow transfer runs (a big rollup through a busy
// origin) lets that one attempt finish: the bound an attempt started under
// is not its timeout.
TEST_F(CurlUploaderTest, ALeaseRenewedDuringATransferLetsItFinish) {
  Reply slow = Reply::Respond(200);
  slow.delay = milliseconds(1500);
  server_.SetDefault(slow);
  UploadOptions o = Options();
  o.request_timeout = milliseconds(10000);
  o.max_total = milliseconds(10000);
  CurlUploader up(o);
  up.SetValidUntil(Clock::now() + milliseconds(500));
  std::atomic<bool> done{false};
  std::thread renewals([&] {
    while (!done.load()) {
      up.SetValidUntil(Clock::now() + milliseconds(500));
      std::this_thread::sleep_for(milliseconds(100));
    }
  });

  const absl::Status s = up.Put(kPath, BinaryBody(), kProto);
  done.store(true);
  renewals.join();

  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(server_.requests().size(), 1u) << "the first attempt was not cut short";
  EXPECT_EQ(up.attempts(), 1u);
}

// A lease that lapses while a transfer runs aborts it (within about a
// second: the progress callback), long before the request's own timeout,
// and nothing is sent again.
TEST_F(CurlUploaderTest, ALeaseLapsingDuringATransferAbortsIt) {
  server_.SetDefault(Reply::Of(Kind::kHang));
  UploadOptions o = Options();
  o.request_timeout = milliseconds(30000);
  o.max_total = milliseconds(30000);
  CurlUploader up(o);
  const auto start = Clock::now();
  up.SetValidUntil(start + milliseconds(300));

  const absl::Status s = up.Put(kPath, "body", kProto);

  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_LT(Clock::now() - start, milliseconds(15000)) << "waited for the request timeout";
  EXPECT_EQ(server_.requests().size(), 1u);
  EXPECT_EQ(up.attempts(), 1u);
}

TEST_F(CurlUploaderTest, LivePostsAreOneAttemptEachOnOneKeptAliveConnection) {
  server_.Script({Reply::Respond(503), Reply::Respond(200, "acks"), Reply::Respond(200, "acks")});
  CurlUploader up(Options());
  const std::string body = BinaryBody();

  // A 503 is the answer, not retried: the pusher sends again later.
  absl::StatusOr<OriginReply> first = up.Post("/v1/live", body, kProto);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 503);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<OriginReply> r = up.Post("/v1/live", body, kProto);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "acks");
  }
  const auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/v1/live");
    EXPECT_TRUE(r.body == body);
    EXPECT_EQ(r.headers.at("authorization"), "Bearer s3cret");
    EXPECT_EQ(r.headers.at("content-type"), kProto);
  }
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(up.attempts(), 0u) << "pushes are not PUT attempts";
}

TEST_F(CurlUploaderTest, ALivePostToAHangingServerEndsWithinItsTimeout) {
  server_.Script({Reply{.kind = Kind::kHang}});
  UploadOptions o = Options();
  o.live_timeout = milliseconds(300);
  CurlUploader up(o);
  // Returns (a transport error) rather than waiting for the answer.
  absl::StatusOr<OriginReply> r = up.Post("/v1/live", "batch", kProto);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(server_.requests().size(), 1u) << "never retried";
}

}  // namespace
}  // namespace roomcast::publisher
