// `roomcast moderate` (DESIGN §11) as an operator runs it: the real binary
// against a real roomcast-publisher and roomcast-origin, one test per
// subcommand, the token from each of its three sources, and the exit codes
// of DESIGN §8 (0 done, 1 refused with the publisher's reason, 2 bad usage).
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

constexpr char kRoom[] = "lobby";

// `roomcast ARGS...` (a fixture's own Run() is gtest's).
RunResult Roomcast(std::vector<std::string> args,
                   std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), BinaryPath("roomcast"));
  return roomcast::testing::Run(args, env, std::chrono::seconds(20));
}

class CliModerateTest : public PublisherE2eTest {
 protected:
  void SetUp() override {
    PublisherE2eTest::SetUp();
    if (HasFatalFailure()) return;
    OpenRoom(kRoom, R"({"bucket_ms": 250})");
    moderator_ = Token("mod", v1::ROLE_MODERATOR, kRoom);
  }
  // `roomcast moderate SUB --publisher URL --room lobby ARGS...`.
  RunResult Moderate(const std::string& sub, std::vector<std::string> args,
                     std::map<std::string, std::string> env = {}) const {
    std::vector<std::string> argv = {"moderate",        sub,      "--publisher",
                                     publisher_->url(), "--room", kRoom};
    argv.insert(argv.end(), args.begin(), args.end());
    return Roomcast(argv, env);
  }
  // Posts one comment as `user` (audience); the reply's status and body.
  HttpResponse PostAs(const std::string& user, const std::string& text) const {
    return PostJson(std::string("/v1/rooms/") + kRoom + "/messages",
                    R"({"type": "comment", "text": ")" + text + "\"}",
                    Token(user, v1::ROLE_AUDIENCE, kRoom));
  }
  uint64_t PostedSeq(const std::string& user, const std::string& text) const {
    HttpResponse r = PostAs(user, text);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Ack> acks = ParseAcks(r.body);
    return acks.size() == 1 ? acks[0].seq : 0;
  }
  static size_t LineCount(const std::string& s) {
    return std::vector<std::string>(absl::StrSplit(s, '\n', absl::SkipEmpty()))
        .size();
  }

  std::string moderator_;
};

TEST_F(CliModerateTest, HelpPerSubcommandAndBadUsageExitsTwo) {
  RunResult top = Roomcast({"moderate", "--help"});
  EXPECT_EQ(top.status, 0);
  for (const char* sub : {"retract", "ban", "unban", "settings", "takedown"}) {
    EXPECT_TRUE(absl::StrContains(top.out, sub)) << top.out;
    RunResult r = Roomcast({"moderate", sub, "--help"});
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_TRUE(absl::StrContains(
        r.out, std::string("Usage: roomcast moderate ") + sub))
        << r.out;
  }
  EXPECT_TRUE(absl::StrContains(Roomcast({"--help"}).out, "moderate"));
  EXPECT_EQ(Roomcast({"moderate"}).status, 2);
  EXPECT_EQ(Roomcast({"moderate", "purge"}).status, 2);
  EXPECT_EQ(Moderate("retract", {"--token", moderator_}).status,
            2);                                              // no --seq
  EXPECT_EQ(Moderate("retract", {"--seq", "1"}).status, 2);  // no token
  EXPECT_EQ(Moderate("ban", {"--token", moderator_, "--user", "a b"}).status,
            2);
  EXPECT_EQ(
      Moderate("settings", {"--token", moderator_, "--slow-mode-s", "4000"})
          .status,
      2);
}

TEST_F(CliModerateTest, RetractPrintsTheReplyIsIdempotentAndNamesAnUnknownSeq) {
  const uint64_t seq = PostedSeq("viewer", "regrettable");
  ASSERT_GT(seq, 0u);
  const std::string want =
      "{\"seq\":" + std::to_string(seq) + ",\"retracted\":true}\n";
  RunResult r = Moderate("retract", {"--token", moderator_, "--seq",
                                     std::to_string(seq), "--reason", "spam"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, want);
  RunResult again = Moderate("retract", {"--seq", std::to_string(seq)},
                             {{"ROOMCAST_TOKEN", moderator_}});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, want);
  RunResult unknown =
      Moderate("retract", {"--token", moderator_, "--seq", "9999"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_TRUE(absl::StrContains(unknown.err, "HTTP 404")) << unknown.err;
  EXPECT_EQ(LineCount(unknown.err), 1u) << unknown.err;
}

TEST_F(CliModerateTest, BanRetractsRecentRefusesWritesAndUnbanLiftsIt) {
  const uint64_t seq = PostedSeq("spammer", "buy now");
  ASSERT_GT(seq, 0u);
  RunResult ban = Moderate(
      "ban", {"--token", moderator_, "--user", "spammer", "--duration-s", "600",
              "--retract-recent-s", "60", "--reason", "spam"});
  EXPECT_EQ(ban.status, 0) << ban.err;
  EXPECT_TRUE(absl::StrContains(ban.out, "\"user\":\"spammer\"")) << ban.out;
  EXPECT_TRUE(
      absl::StrContains(ban.out, "\"retracted\":[" + std::to_string(seq) + "]"))
      << ban.out;
  HttpResponse refused = PostAs("spammer", "again");
  EXPECT_EQ(refused.status, 403);
  EXPECT_TRUE(absl::StrContains(refused.body, "banned")) << refused.body;

  RunResult unban =
      Moderate("unban", {"--token", moderator_, "--user", "spammer"});
  EXPECT_EQ(unban.status, 0) << unban.err;
  EXPECT_TRUE(absl::StrContains(unban.out, "\"until_ms\":0")) << unban.out;
  EXPECT_EQ(PostAs("spammer", "sorry").status, 200);
}

TEST_F(CliModerateTest, SettingsChangesSlowModeAndShowsWhatIsSet) {
  const std::string file = publisher_dir_.path() + "/moderator.jwt";
  std::ofstream(file) << moderator_ << "\n";
  RunResult set =
      Moderate("settings", {"--token-file", file, "--slow-mode-s", "30"});
  EXPECT_EQ(set.status, 0) << set.err;
  EXPECT_EQ(set.out, "{\"slow_mode_s\":30,\"review_delay_ms\":0}\n");
  EXPECT_EQ(PostAs("viewer", "first").status, 200);
  EXPECT_EQ(PostAs("viewer", "second").status, 429);
  RunResult shown = Moderate("settings", {"--token", moderator_});
  EXPECT_EQ(shown.status, 0) << shown.err;
  EXPECT_EQ(shown.out, set.out);  // neither given: both kept
  RunResult off = Moderate("settings", {"--token", moderator_, "--slow-mode-s",
                                        "0", "--review-delay-ms", "500"});
  EXPECT_EQ(off.status, 0) << off.err;
  EXPECT_EQ(off.out, "{\"slow_mode_s\":0,\"review_delay_ms\":500}\n");
}

TEST_F(CliModerateTest, AnAudienceTokenIsRefusedWithExitOneAnd403) {
  const uint64_t seq = PostedSeq("someone", "mine? no");
  ASSERT_GT(seq, 0u);
  const std::string audience = Token("viewer", v1::ROLE_AUDIENCE, kRoom);
  const std::vector<std::pair<std::string, std::vector<std::string>>> calls = {
      {"retract", {"--seq", std::to_string(seq)}},
      {"ban", {"--user", "someone"}},
      {"unban", {"--user", "someone"}},
      {"settings", {"--slow-mode-s", "5"}},
  };
  for (const auto& [sub, args] : calls) {
    std::vector<std::string> with = args;
    with.insert(with.end(), {"--token", audience});
    RunResult r = Moderate(sub, with);
    EXPECT_EQ(r.status, 1) << sub;
    EXPECT_TRUE(
        absl::StrContains(r.err, "roomcast moderate " + sub + ": HTTP 403"))
        << r.err;
    EXPECT_EQ(LineCount(r.err), 1u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_EQ(PostAs("someone", "still here").status, 200);  // no ban took effect
}

TEST_F(CliModerateTest, TakedownAsTheServiceRepeatsAndRefusesOthers) {
  const uint64_t a = PostedSeq("viewer", "unlawful one");
  const uint64_t b = PostedSeq("viewer", "unlawful two");
  ASSERT_GT(b, a);
  EXPECT_EQ(Moderate("takedown", {"--token", service_token_}).status, 2);  // no --seq
  EXPECT_EQ(Moderate("takedown", {"--token", service_token_, "--seq", "0"}).status, 2);
  EXPECT_EQ(Moderate("takedown", {"--token", service_token_, "--seq", "x"}).status, 2);
  RunResult refused = Moderate("takedown", {"--token", moderator_, "--seq", std::to_string(a)});
  EXPECT_EQ(refused.status, 1);
  EXPECT_TRUE(absl::StrContains(refused.err, "HTTP 403")) << refused.err;
  EXPECT_EQ(LineCount(refused.err), 1u) << refused.err;

  // Repeated --seq and a comma list name the same takedown.
  RunResult r = Moderate("takedown", {"--token", service_token_, "--seq", std::to_string(b),
                                      "--seq", std::to_string(a), "--reason", "court order"});
  EXPECT_EQ(r.status, 0) << r.err;
  const std::string want =
      absl::StrCat("{\"takedown\":1,\"seqs\":[", a, ",", b, "]}\n");
  EXPECT_EQ(r.out, want);
  RunResult again = Moderate("takedown", {"--seq", absl::StrCat(a, ",", b)},
                             {{"ROOMCAST_TOKEN", service_token_}});
  EXPECT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, want);

  RunResult unknown = Moderate("takedown", {"--token", service_token_, "--seq", "9999"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_TRUE(absl::StrContains(unknown.err, "HTTP 404")) << unknown.err;
}

}  // namespace
}  // namespace roomcast::testing
