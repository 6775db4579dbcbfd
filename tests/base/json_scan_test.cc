#include "base/json_scan.h"

#include <string>

#include "gtest/gtest.h"

namespace roomcast::base {
namespace {

TEST(JsonScanTest, CountsNestedArraysAndObjects) {
  EXPECT_EQ(JsonNestingDepth("1", 10), 0u);
  EXPECT_EQ(JsonNestingDepth("{}", 10), 1u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[1,{"b":[]}],"c":{}})", 10), 4u);
}

TEST(JsonScanTest, BracketsInsideStringsDoNotCount) {
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[{{{","b":"\"[[["})", 10), 1u);
  EXPECT_EQ(JsonNestingDepth(R"(["\\",[]])", 10), 2u);
}

TEST(JsonScanTest, StopsAsSoonAsTheLimitIsPassed) {
  const std::string deep(1'000'000, '[');
  EXPECT_EQ(JsonNestingDepth(deep, 32), 33u);
}

TEST(JsonScanTest, UnbalancedClosersNeverUnderflow) {
  EXPECT_EQ(JsonNestingDepth("]]]}}}[", 10), 1u);
}

}  // namespace
}  // namespace roomcast::base
