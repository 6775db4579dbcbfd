#include "base/log.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace roomcast::base {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetMinLogLevel(LogLevel::kInfo);
    SetLogSink([this](absl::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetMinLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, LineIsLevelComponentEventThenKeyValues) {
  ROOMCAST_LOG(kWarning, "origin", "sweep").Kv("removed", 3).Kv("room", "lobby");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0], "warning origin sweep removed=3 room=lobby");
}

TEST_F(LogTest, ValuesWithSpacesQuotesOrEqualsAreQuotedAndEscaped) {
  ROOMCAST_LOG(kError, "publisher", "upload_refused")
      .Kv("detail", "a b")
      .Kv("q", "say \"hi\"")
      .Kv("eq", "k=v")
      .Kv("empty", "")
      .Kv("nl", "x\ny");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "error publisher upload_refused detail=\"a b\" q=\"say \\\"hi\\\"\" "
            "eq=\"k=v\" empty=\"\" nl=\"x\\ny\"");
}

TEST_F(LogTest, StatusPrintsItsCodeAndMessage) {
  ROOMCAST_LOG(kError, "x", "failed").Kv("status", absl::NotFoundError("gone"));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0], "error x failed status=\"NOT_FOUND: gone\"");
}

TEST_F(LogTest, LinesBelowTheMinimumLevelAreNotEvaluated) {
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  ROOMCAST_LOG(kDebug, "x", "quiet").Kv("n", count());
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(evaluated, 0);
  SetMinLogLevel(LogLevel::kDebug);
  ROOMCAST_LOG(kDebug, "x", "loud").Kv("n", count());
  EXPECT_EQ(lines_.size(), 1u);
  EXPECT_EQ(evaluated, 1);
}

// On stderr a line starts with the time it was written, UTC, to the
// millisecond, so lines from several processes can be put in order.
TEST_F(LogTest, StderrLinesStartWithTheirUtcTime) {
  SetLogSink(nullptr);
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(::fileno(file), STDERR_FILENO), 0);
  const absl::Time before = absl::Now();
  ROOMCAST_LOG(kInfo, "origin", "started").Kv("port", 8080);
  const absl::Time after = absl::Now();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(file);
  char buf[256] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, file);
  std::fclose(file);
  const std::string out(buf, n);
  ASSERT_EQ(out.size(), 25u + std::string("info origin started port=8080\n").size())
      << out;
  EXPECT_EQ(out.substr(24), " info origin started port=8080\n");
  absl::Time t;
  std::string err;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", out.substr(0, 24), &t, &err))
      << out.substr(0, 24) << ": " << err;
  EXPECT_GE(t, absl::FromUnixMillis(absl::ToUnixMillis(before)));
  EXPECT_LE(t, after);
}

TEST_F(LogTest, ParseLogLevelTakesTheFourNamesOnly) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose").ok());
  EXPECT_FALSE(ParseLogLevel("").ok());
}

}  // namespace
}  // namespace roomcast::base
