// The real `roomcast` binary against a private room (DESIGN §12) at a real
// origin: tail, replay, verify and inspect read it with --edge-token (or
// ROOMCAST_EDGE_TOKEN, or --edge-token-file) and fail with exit 1 and a
// one-line reason without one or with a bad one; --help documents it
// (DESIGN §8).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "auth/edge_token.h"
#include "tests/client/synthetic_publisher.h"
#include "tests/origin/origin_fixture.h"
#include "tests/support/process.h"
#include "tests/tools/cli_run.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kRoom[] = "vip";

std::string EdgeToken(const std::string& room, int64_t ttl_s = 600) {
  return auth::MintEdgeToken(auth::EdgeAclForRoom(room), WallMs() / 1000 + ttl_s, kEdgeSecret);
}

class CliPrivateTest : public OriginTest {
 protected:
  void SetUp() override {
    OriginTest::SetUp();
    pub_ = std::make_unique<SyntheticPublisher>(
        *origin_, SyntheticPublisher::Options{.room = kRoom, .private_room = true});
    pub_->Start();
  }
  void TearDown() override { pub_->Stop(); }
  // Posts `n` comments a little apart and waits until they are published.
  void PostSome(int n) {
    for (int i = 0; i < n; ++i) {
      pub_->Post("members only " + std::to_string(i));
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(pub_->WaitPublished());
  }
  std::vector<std::string> Range(const std::string& verb) const {
    return {verb, "--base", origin_->url(), "--room", kRoom, "--from", "-30s", "--to", "now"};
  }
  static std::vector<std::string> With(std::vector<std::string> args,
                                       std::vector<std::string> more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  std::unique_ptr<SyntheticPublisher> pub_;
};

TEST_F(CliPrivateTest, HelpDocumentsTheEdgeToken) {
  for (const char* verb : {"tail", "replay", "inspect", "verify"}) {
    RunResult r = Cli({verb, "--help"});
    EXPECT_EQ(r.status, 0) << verb;
    EXPECT_TRUE(absl::StrContains(r.out, "--edge-token")) << verb << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "ROOMCAST_EDGE_TOKEN")) << verb << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "/v1/private/")) << verb << ": " << r.out;
  }
}

TEST_F(CliPrivateTest, ReplayReadsThePrivateRoomWithItsTokenOnly) {
  PostSome(6);
  const std::string token = EdgeToken(kRoom);
  const std::string file = dir_.path() + "/edge-token";
  std::ofstream(file) << token << "\n";
  for (const RunResult& r :
       {Cli(With(Range("replay"), {"--edge-token", token, "--format", "jsonl"})),
        Cli(With(Range("replay"), {"--format", "jsonl"}), {{"ROOMCAST_EDGE_TOKEN", token}}),
        Cli(With(Range("replay"), {"--edge-token-file", file, "--format", "jsonl"}))}) {
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<v1::Message> got = JsonMessages(r.out);
    ASSERT_EQ(got.size(), 6u) << r.out;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq(), i + 1);
      EXPECT_EQ(got[i].comment().text(), "members only " + std::to_string(i));
    }
  }
  // Without a token the public prefix has no such room.
  RunResult none = Cli(Range("replay"));
  EXPECT_EQ(none.status, 1);
  ASSERT_EQ(Lines(none.err).size(), 1u) << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "no room vip (a private room needs its edge token)"))
      << none.err;
  EXPECT_TRUE(none.out.empty()) << none.out;
  // Another room's token opens nothing here.
  RunResult other = Cli(With(Range("replay"), {"--edge-token", EdgeToken("other")}));
  EXPECT_EQ(other.status, 1);
  ASSERT_EQ(Lines(other.err).size(), 1u) << other.err;
  EXPECT_TRUE(absl::StrContains(other.err, "HTTP 403")) << other.err;
  EXPECT_TRUE(other.out.empty()) << other.out;
}

TEST_F(CliPrivateTest, VerifyChecksThePrivateRoomWithItsToken) {
  PostSome(5);
  RunResult ok = Cli(With(Range("verify"), {"--edge-token", EdgeToken(kRoom)}));
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_TRUE(absl::StrContains(ok.out, "5 actions, seqs 1..5")) << ok.out;
  EXPECT_TRUE(absl::StrContains(ok.out, "OK")) << ok.out;

  std::string forged = EdgeToken(kRoom);
  forged.back() = forged.back() == '0' ? '1' : '0';
  RunResult bad = Cli(With(Range("verify"), {"--edge-token", forged}));
  EXPECT_EQ(bad.status, 1);
  ASSERT_EQ(Lines(bad.err).size(), 1u) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "HTTP 403")) << bad.err;
  EXPECT_EQ(Cli(Range("verify")).status, 1);
}

TEST_F(CliPrivateTest, InspectSendsTheTokenToPrivateUrls) {
  PostSome(1);
  const std::string url = origin_->url() + "/v1/private/vip/manifest.pb";
  RunResult none = Cli({"inspect", url});
  EXPECT_EQ(none.status, 1);
  ASSERT_EQ(Lines(none.err).size(), 1u) << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "HTTP 401")) << none.err;

  RunResult manifest = Cli({"inspect", url, "--edge-token", EdgeToken(kRoom)});
  ASSERT_EQ(manifest.status, 0) << manifest.err;
  EXPECT_TRUE(absl::StrContains(manifest.out, "\"room\":\"vip\"")) << manifest.out;
  EXPECT_TRUE(absl::StrContains(manifest.out, "\"private\":true")) << manifest.out;
  RunResult json = Cli({"inspect", origin_->url() + "/v1/private/vip/manifest.json"},
                       {{"ROOMCAST_EDGE_TOKEN", EdgeToken(kRoom)}});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_TRUE(absl::StrContains(json.out, "\"last_seq\": \"1\"") ||
              absl::StrContains(json.out, "\"last_seq\":\"1\""))
      << json.out;

  EXPECT_EQ(Cli({"inspect", url, "--edge-token-file", dir_.path() + "/missing"}).status, 2);
}

TEST_F(CliPrivateTest, TailFollowsThePrivateRoomWithItsToken) {
  RunResult r = TailWhilePosting({"--base", origin_->url(), "--room", kRoom},
                                 {{"ROOMCAST_EDGE_TOKEN", EdgeToken(kRoom)}}, *pub_);
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<v1::Message> got = JsonMessages(r.out);
  ASSERT_EQ(got.size(), 3u) << r.out;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i].comment().text(), "live " + std::to_string(i));
}

TEST_F(CliPrivateTest, TailFailsOnARefusedTokenAndSeesNothingWithoutOne) {
  RunResult expired = Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--edge-token",
                           EdgeToken(kRoom, -10), "--duration-ms", "3000"});
  EXPECT_EQ(expired.status, 1);
  ASSERT_EQ(Lines(expired.err).size(), 1u) << expired.err;
  EXPECT_TRUE(absl::StrContains(expired.err, "HTTP 403")) << expired.err;
  EXPECT_TRUE(absl::StrContains(expired.err, "expired")) << expired.err;

  // Without a token the public prefix has no such room: tail waits for one
  // that never comes, and prints nothing of the private one.
  pub_->Post("not for outsiders");
  RunResult none = Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--duration-ms",
                        "1500"});
  EXPECT_EQ(none.status, 0) << none.err;
  EXPECT_TRUE(none.out.empty()) << none.out;
  EXPECT_TRUE(absl::StrContains(none.err, "a private room needs its edge token")) << none.err;
}

TEST_F(CliPrivateTest, TailEndsWithExitOneWhenItsTokenExpires) {
  // Good for one or two seconds: the join works, a later request is refused.
  RunResult r = Cli({"tail", "--base", origin_->url(), "--room", kRoom, "--edge-token",
                     EdgeToken(kRoom, 2), "--duration-ms", "10000"},
                    {}, 15s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "private room vip: HTTP 403")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "expired")) << r.err;
}

}  // namespace
}  // namespace roomcast::testing
