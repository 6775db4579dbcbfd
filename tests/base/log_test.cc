#include "base/log.h"

#include <string>
#include <vector>

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

TEST_F(LogTest, ParseLogLevelTakesTheFourNamesOnly) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose").ok());
  EXPECT_FALSE(ParseLogLevel("").ok());
}

}  // namespace
}  // namespace roomcast::base
