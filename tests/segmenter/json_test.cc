// protobuf's JSON mapping through the codec's cached type resolution
// (segmenter/codec.h): the same answers as protobuf's own entry points.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "segmenter/codec.h"
#include "segmenter/live.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

namespace util = google::protobuf::util;

// Bodies a sender may post, good and bad: each must parse (or fail, with
// the same message) exactly as JsonStringToMessage has it.
const std::vector<std::string>& Bodies() {
  static const std::vector<std::string> kBodies = {
      R"({"type":"comment","text":"hello, \"world\" \u00e9\ud83d\ude02"})",
      R"({"messages":[{"type":"like","count":3},{"type":"gift","gift_id":"rose","count":1}]})",
      R"({"type":"custom:poll","data":{"q":"which?","opts":[1,"two",{"three":null}],"n":2.5}})",
      R"({"type":"comment","clientMsgId":"k1","text":""})",
      R"({"type":"comment","text":"x","unknown_field":1})",
      R"({"type":"comment","count":"many"})",
      R"({"type":"comment","count":-1})",
      R"({"type":"comment","count":4294967296})",
      R"({"type":"comment","text":1})",
      R"({"type":"comment","text":"unterminated)",
      R"({"messages":{"type":"like"}})",
      R"([1,2,3])",
      R"({})",
      R"(   )",
      "{\"type\":\"comment\",\"text\":\"\xff\xfe\"}",
  };
  return kBodies;
}

TEST(JsonTest, FromJsonAnswersAsJsonStringToMessage) {
  for (bool ignore_unknown : {false, true}) {
    util::JsonParseOptions o;
    o.ignore_unknown_fields = ignore_unknown;
    for (const std::string& body : Bodies()) {
      for (int type = 0; type < 2; ++type) {
        v1::PostMessagesRequest batch_ours, batch_theirs;
        v1::MessageInput one_ours, one_theirs;
        google::protobuf::Message* ours =
            type == 0 ? static_cast<google::protobuf::Message*>(&batch_ours) : &one_ours;
        google::protobuf::Message* theirs =
            type == 0 ? static_cast<google::protobuf::Message*>(&batch_theirs) : &one_theirs;
        const absl::Status got = FromJson(body, ours, o);
        const util::Status want = util::JsonStringToMessage(body, theirs, o);
        ASSERT_EQ(got.ok(), want.ok()) << body << " " << got;
        EXPECT_EQ(got.message(), std::string(want.message())) << body;
        EXPECT_EQ(static_cast<int>(got.code()), static_cast<int>(want.code())) << body;
        // Deterministic bytes: a Struct's map has no order of its own.
        EXPECT_EQ(SerializeFieldOrder(*ours), SerializeFieldOrder(*theirs)) << body;
      }
    }
  }
  // Some of them parse and some do not, or the comparison above is empty.
  int parsed = 0;
  for (const std::string& body : Bodies()) {
    v1::MessageInput m;
    parsed += FromJson(body, &m, util::JsonParseOptions()).ok() ? 1 : 0;
  }
  EXPECT_GT(parsed, 2);
  EXPECT_LT(parsed, static_cast<int>(Bodies().size()) - 2);
}

// ToJson prints what MessageToJsonString prints (for messages without
// maps, whose order MessageToJsonString does not fix), from many threads
// at once: the cached resolution is shared.
TEST(JsonTest, ToJsonPrintsAsMessageToJsonStringFromManyThreads) {
  std::vector<v1::Message> messages;
  for (int i = 0; i < 20; ++i) {
    messages.push_back(i % 2 ? testing::LikeFrom(static_cast<uint64_t>(i), i, "fan")
                             : testing::GiftFrom(static_cast<uint64_t>(i), i, "patron"));
  }
  v1::Manifest manifest;
  manifest.set_room("r");
  manifest.set_version(7);
  manifest.set_epoch(2);
  util::JsonPrintOptions po;
  po.preserve_proto_field_names = true;
  std::vector<std::string> want;
  for (const v1::Message& m : messages) {
    std::string s;
    ASSERT_TRUE(util::MessageToJsonString(m, &s, po).ok());
    want.push_back(s);
  }
  std::string want_manifest;
  ASSERT_TRUE(util::MessageToJsonString(manifest, &want_manifest, po).ok());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < messages.size(); ++i) {
          if (ToJson(messages[i]).value_or("") != want[i]) ++mismatches[t];
        }
        if (ToJson(manifest).value_or("") != want_manifest) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace roomcast::segmenter
