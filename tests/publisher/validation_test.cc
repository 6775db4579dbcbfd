#include "publisher/internal/validation.h"

#include "gtest/gtest.h"

namespace roomcast::publisher::internal {
namespace {

v1::MessageInput Input(std::string type) {
  v1::MessageInput in;
  in.set_type(std::move(type));
  return in;
}

TEST(ValidationTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("hi"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9t\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x8e\x81"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // stray continuation
}

TEST(ValidationTest, EachTypeBuildsItsBody) {
  IngestLimits limits;
  v1::Message m;
  v1::MessageInput c = Input("comment");
  c.set_text("hi");
  ASSERT_TRUE(BuildBody(c, limits, &m).ok());
  EXPECT_EQ(m.comment().text(), "hi");

  v1::MessageInput g = Input("gift");
  g.set_gift_id("rose");
  g.set_count(3);
  ASSERT_TRUE(BuildBody(g, limits, &m).ok());
  EXPECT_EQ(m.gift().count(), 3u);

  ASSERT_TRUE(BuildBody(Input("like"), limits, &m).ok());
  EXPECT_TRUE(m.has_like());
  ASSERT_TRUE(BuildBody(Input("enter"), limits, &m).ok());
  EXPECT_TRUE(m.has_enter());

  v1::MessageInput x = Input("custom:vote");
  (*x.mutable_data()->mutable_fields())["option"].set_string_value("b");
  ASSERT_TRUE(BuildBody(x, limits, &m).ok());
  EXPECT_EQ(m.custom().name(), "vote");
  EXPECT_EQ(m.custom().data().fields().at("option").string_value(), "b");
}

TEST(ValidationTest, BadInputsAreRefused) {
  IngestLimits limits;
  v1::Message m;
  EXPECT_EQ(BuildBody(Input("comment"), limits, &m).code(),
            absl::StatusCode::kInvalidArgument);  // empty text
  EXPECT_EQ(BuildBody(Input("gift"), limits, &m).code(),
            absl::StatusCode::kInvalidArgument);  // no gift_id
  EXPECT_EQ(BuildBody(Input("custom:"), limits, &m).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildBody(Input("custom:a/b"), limits, &m).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildBody(Input(""), limits, &m).code(),
            absl::StatusCode::kInvalidArgument);
  v1::MessageInput big = Input("comment");
  big.set_text(std::string(limits.max_text_bytes + 1, 'x'));
  EXPECT_EQ(BuildBody(big, limits, &m).code(), absl::StatusCode::kOutOfRange);
  v1::MessageInput bigdata = Input("custom:blob");
  (*bigdata.mutable_data()->mutable_fields())["b"].set_string_value(
      std::string(limits.max_custom_bytes + 1, 'x'));
  EXPECT_EQ(BuildBody(bigdata, limits, &m).code(), absl::StatusCode::kOutOfRange);
}

TEST(ValidationTest, ConfigDefaultsAndBounds) {
  auto c = ConfigFromRequest({}, 60000);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->bucket_ms(), 1000u);
  EXPECT_EQ(c->rollup_ms(), 60000u);
  EXPECT_EQ(c->retention_s(), 86400u);
  EXPECT_EQ(c->action_cap_per_s(), 500u);
  EXPECT_FALSE(c->private_());
  for (uint32_t d : {99u, 60001u, 0u}) {
    v1::OpenRoomRequest r;
    r.set_bucket_ms(d);
    EXPECT_FALSE(ConfigFromRequest(r, 60000).ok()) << d;
  }
  v1::OpenRoomRequest odd;
  odd.set_bucket_ms(7000);  // 60000 is no multiple: the nearest one
  auto o = ConfigFromRequest(odd, 60000);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->rollup_ms() % 7000, 0u);
  v1::OpenRoomRequest zero;
  zero.set_retention_s(0);
  EXPECT_FALSE(ConfigFromRequest(zero, 60000).ok());
}

}  // namespace
}  // namespace roomcast::publisher::internal
