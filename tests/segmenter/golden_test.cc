// Golden tests: the exact bytes of one segment and one manifest are pinned, so
// any change to the wire format or to encoding determinism shows up here.
// After a deliberate format change, regenerate with
//   ROOMCAST_UPDATE_GOLDEN=1 ./build/tests/segmenter_test --gtest_filter='Golden*'
// and review the diff of tests/segmenter/golden/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "base/crypto.h"
#include "segmenter/codec.h"
#include "segmenter/manifest.h"
#include "segmenter/peer_hint.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using testing::Action;
using testing::GiftFrom;
using testing::LikeFrom;

std::string GoldenPath(const std::string& name) {
  return std::string(ROOMCAST_GOLDEN_DIR) + "/" + name;
}

// Compares hex-dumped bytes with the golden file (or rewrites it).
void ExpectGolden(const std::string& name, const std::string& bytes) {
  const std::string hex = absl::BytesToHexString(bytes);
  std::string wrapped;
  for (size_t i = 0; i < hex.size(); i += 64) wrapped += hex.substr(i, 64) + "\n";
  if (std::getenv("ROOMCAST_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(GoldenPath(name)) << wrapped;
    return;
  }
  std::ifstream in(GoldenPath(name));
  ASSERT_TRUE(in.good()) << "missing " << GoldenPath(name);
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(wrapped, want.str()) << name << " changed: the wire format moved";
}

v1::ActionSegment GoldenSegment() {
  std::vector<v1::Message> msgs;
  msgs.push_back(Action(41, 1764290000010, "viewer-1"));
  msgs.push_back(GiftFrom(42, 1764290000200, "viewer-2"));
  msgs.push_back(LikeFrom(43, 1764290000300, "viewer-3"));
  v1::Message custom = Action(44, 1764290000400, "anchor", v1::ROLE_ANCHOR);
  custom.mutable_custom()->set_name("poll");
  (*custom.mutable_custom()->mutable_data()->mutable_fields())["q"].set_string_value("yes?");
  (*custom.mutable_custom()->mutable_data()->mutable_fields())["a"].set_number_value(2);
  msgs.push_back(custom);
  for (uint64_t s = 45; s <= 50; ++s) msgs.push_back(LikeFrom(s, 1764290000900, "viewer-4"));
  PeerHintBuilder hint(2);
  hint.Add(DeriveHintKey("golden-secret", "viewer-1"), 1764290000);
  return BuildSegment({.room = "golden", .epoch = 7, .bucket_ms = 1000,
                       .index = 1764290000, .limit = 5},
                      std::move(msgs), &hint.hint());
}

TEST(GoldenTest, ActionSegmentBytes) {
  v1::ActionSegment s = GoldenSegment();
  // The first 4 normal ones (viewer-4 stops at its share, ceil(5 / 4) = 2),
  // the gift and the anchor custom.
  EXPECT_EQ(s.messages_size(), 6);
  ExpectGolden("action_segment.hex", Encode(s).bytes);
}

TEST(GoldenTest, ManifestBytes) {
  v1::RoomConfig cfg;
  cfg.set_bucket_ms(1000);
  cfg.set_rollup_ms(60000);
  cfg.set_retention_s(86400);
  cfg.set_action_cap_per_s(500);
  ManifestBuilder mb({.room = "golden", .epoch = 7, .publisher = "pub-a",
                      .opened_ms = 1764289990000, .config = cfg});
  v1::ActionSegment s = GoldenSegment();
  mb.AddSegment(s, Encode(s).digest);
  RoomState st("golden", 7);
  google::protobuf::Value title;
  title.set_string_value("Golden hour");
  ASSERT_TRUE(st.Set("title", title, 1764290000500, "anchor").ok());
  mb.SetState(st);
  ExpectGolden("manifest.hex",
               Encode(mb.Build(1764290001234, 1764290001000)).bytes);
}

TEST(GoldenTest, EncodingIsByteIdenticalAcrossRuns) {
  EXPECT_EQ(Encode(GoldenSegment()).bytes, Encode(GoldenSegment()).bytes);
  EXPECT_EQ(Encode(GoldenSegment()).digest, base::Sha256Hex(Encode(GoldenSegment()).bytes));
}

}  // namespace
}  // namespace roomcast::segmenter
