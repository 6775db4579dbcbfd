// FlagSet and ReadSecret: the command-line grammar every roomcast binary
// shares, its errors (DESIGN §8: exit 2 for bad usage) and secrets kept off
// the command line.
#include "base/flags.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace roomcast::base {
namespace {

// argv for Parse: owns the strings; argv[0] is the program.
class Args {
 public:
  Args(std::initializer_list<std::string> args) : strings_(args) {
    strings_.insert(strings_.begin(), "prog");
    for (std::string& s : strings_) argv_.push_back(s.data());
  }
  Args(const Args&) = delete;  // argv_ points into strings_
  Args& operator=(const Args&) = delete;
  int argc() const { return static_cast<int>(argv_.size()); }
  char** argv() { return argv_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> argv_;
};

class FlagSetTest : public ::testing::Test {
 protected:
  FlagSetTest() : flags_("prog", "--room ROOM", "Does things.") {
    flags_.String("room", &room_, "room id");
    flags_.Int("count", &count_, "how many");
    flags_.Bool("json", &json_, "JSON output");
  }
  absl::StatusOr<std::vector<std::string>> Parse(Args args) {
    return flags_.Parse(args.argc(), args.argv());
  }

  std::string room_ = "lobby";
  int64_t count_ = 7;
  bool json_ = false;
  FlagSet flags_;
};

TEST_F(FlagSetTest, TakesNameSpaceValueAndNameEqualsValue) {
  ASSERT_TRUE(Parse({"--room", "demo", "--count=42"}).ok());
  EXPECT_EQ(room_, "demo");
  EXPECT_EQ(count_, 42);
}

TEST_F(FlagSetTest, AValueMayContainEqualsSigns) {
  ASSERT_TRUE(Parse({"--room=a=b"}).ok());
  EXPECT_EQ(room_, "a=b");
}

TEST_F(FlagSetTest, AbsentFlagsKeepTheirDefaults) {
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(room_, "lobby");
  EXPECT_EQ(count_, 7);
  EXPECT_FALSE(json_);
}

TEST_F(FlagSetTest, ABooleanNeedsNoValueAndTakesNotTheNextArgument) {
  absl::StatusOr<std::vector<std::string>> args = Parse({"--json", "file"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(json_);
  EXPECT_EQ(*args, std::vector<std::string>{"file"});
}

TEST_F(FlagSetTest, ABooleanTakesAnExplicitValue) {
  json_ = true;
  ASSERT_TRUE(Parse({"--json=false"}).ok());
  EXPECT_FALSE(json_);
  ASSERT_TRUE(Parse({"--json=1"}).ok());
  EXPECT_TRUE(json_);
  absl::StatusOr<std::vector<std::string>> bad = Parse({"--json=maybe"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_EQ(bad.status().message(), "--json takes true or false, got 'maybe'");
}

TEST_F(FlagSetTest, ABadIntegerNamesTheFlagAndTheValue) {
  absl::StatusOr<std::vector<std::string>> r = Parse({"--count", "ten"});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "--count takes a whole number, got 'ten'");
}

TEST_F(FlagSetTest, AnUnknownFlagIsAnError) {
  absl::StatusOr<std::vector<std::string>> r = Parse({"--bogus", "1"});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "unknown flag --bogus");
}

TEST_F(FlagSetTest, AFlagWithoutItsValueIsAnError) {
  absl::StatusOr<std::vector<std::string>> r = Parse({"--room"});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "--room needs a value");
}

TEST_F(FlagSetTest, ARequiredFlagMustBeGiven) {
  flags_.Require("room");
  absl::StatusOr<std::vector<std::string>> r = Parse({"--count", "1"});
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "--room is required");
  EXPECT_TRUE(Parse({"--room", "x"}).ok());
}

TEST_F(FlagSetTest, PositionalArgumentsComeBackInOrderAndDashDashEndsFlags) {
  absl::StatusOr<std::vector<std::string>> r =
      Parse({"a", "--room", "x", "b", "--", "--json", "c"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"a", "b", "--json", "c"}));
  EXPECT_FALSE(json_);
}

TEST_F(FlagSetTest, ParsingStartsAtFirst) {
  Args args = {"tail", "--room", "x"};  // argv[1] is the verb
  absl::StatusOr<std::vector<std::string>> r =
      flags_.Parse(args.argc(), args.argv(), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(room_, "x");
}

TEST_F(FlagSetTest, HelpIsReportedEvenWithRequiredFlagsMissing) {
  for (const char* help : {"--help", "-h"}) {
    FlagSet flags("prog", "", "");
    std::string room;
    flags.String("room", &room, "room id");
    flags.Require("room");
    Args args = {help};
    EXPECT_TRUE(flags.Parse(args.argc(), args.argv()).ok()) << help;
    EXPECT_TRUE(flags.help_requested()) << help;
  }
}

TEST_F(FlagSetTest, UsageListsEveryFlagWithItsDefaultOrRequired) {
  flags_.Require("room");
  const std::string usage = flags_.Usage();
  EXPECT_EQ(usage.rfind("Usage: prog --room ROOM\n\nDoes things.\n", 0), 0u)
      << usage;
  EXPECT_NE(usage.find("  --room VALUE\n      room id (required)\n"),
            std::string::npos)
      << usage;
  EXPECT_NE(usage.find("  --count VALUE\n      how many (default: 7)\n"),
            std::string::npos)
      << usage;
  EXPECT_NE(usage.find("  --json\n      JSON output (default: false)\n"),
            std::string::npos)
      << usage;
  EXPECT_NE(usage.find("  --help\n"), std::string::npos) << usage;
}

TEST_F(FlagSetTest, ParseOrExitExitsTwoWithTheReasonOnABadFlag) {
  Args args = {"--bogus"};
  EXPECT_EXIT(flags_.ParseOrExit(args.argc(), args.argv()),
              ::testing::ExitedWithCode(2),
              "prog: unknown flag --bogus\nTry 'prog --help'.");
}

TEST_F(FlagSetTest, ParseOrExitExitsZeroOnHelp) {
  Args args = {"--help"};
  EXPECT_EXIT(flags_.ParseOrExit(args.argc(), args.argv()),
              ::testing::ExitedWithCode(0), "");
}

TEST(FailTest, ExitsOneWithTheProgramAndTheReason) {
  EXPECT_EXIT(Fail("prog", absl::NotFoundError("no such room")),
              ::testing::ExitedWithCode(1), "prog: no such room");
}

class ReadSecretTest : public ::testing::Test {
 protected:
  static constexpr char kEnv[] = "ROOMCAST_FLAGS_TEST_SECRET";
  void SetUp() override { unsetenv(kEnv); }
  void TearDown() override { unsetenv(kEnv); }
  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
};

TEST_F(ReadSecretTest, TheEnvironmentComesFirstWithTrailingNewlinesStripped) {
  setenv(kEnv, "from-env\n", 1);
  absl::StatusOr<std::string> s =
      ReadSecret(kEnv, WriteFile("ignored", "from-file"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "from-env");
}

TEST_F(ReadSecretTest, AFileIsReadWithItsTrailingNewlineStripped) {
  absl::StatusOr<std::string> s =
      ReadSecret(kEnv, WriteFile("secret", "s3cret\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "s3cret");
}

TEST_F(ReadSecretTest, AnEmptyVariableFallsBackToTheFile) {
  setenv(kEnv, "", 1);
  absl::StatusOr<std::string> s = ReadSecret(kEnv, WriteFile("fallback", "f"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "f");
}

TEST_F(ReadSecretTest, AMissingFileIsNotFound) {
  absl::StatusOr<std::string> s =
      ReadSecret(kEnv, ::testing::TempDir() + "/no-such-secret");
  EXPECT_TRUE(absl::IsNotFound(s.status())) << s.status();
}

TEST_F(ReadSecretTest, AnEmptyFileIsInvalid) {
  absl::StatusOr<std::string> s = ReadSecret(kEnv, WriteFile("empty", "\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
}

TEST_F(ReadSecretTest, NeitherVariableNorFileIsAFailedPrecondition) {
  absl::StatusOr<std::string> s = ReadSecret(kEnv, "");
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status())) << s.status();
  EXPECT_NE(s.status().message().find(kEnv), absl::string_view::npos)
      << "the message names the variable";
}

}  // namespace
}  // namespace roomcast::base
