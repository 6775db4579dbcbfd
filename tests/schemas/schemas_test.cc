// The wire contract: every object type round-trips through protobuf and the
// JSON mapping with proto field names, and unknown bytes are rejected.
#include <gtest/gtest.h>

#include "base/crypto.h"
#include "google/protobuf/util/json_util.h"
#include "roomcast/v1/ingest.pb.h"
#include "roomcast/v1/manifest.pb.h"
#include "roomcast/v1/segment.pb.h"
#include "roomcast/v1/state.pb.h"
#include "segmenter/codec.h"

namespace roomcast {
namespace {

v1::Message Comment(uint64_t seq, std::string text) {
  v1::Message m;
  m.set_seq(seq);
  m.set_ts_ms(1764290000123);
  m.set_kind(v1::KIND_ACTION);
  m.set_sender("viewer-7");
  m.set_role(v1::ROLE_AUDIENCE);
  m.mutable_comment()->set_text(std::move(text));
  return m;
}

TEST(SchemasTest, SegmentRoundTripsThroughProtobuf) {
  v1::ActionSegment s;
  s.set_room("lobby");
  s.set_bucket_ms(1000);
  s.set_index(1764290000);
  *s.add_messages() = Comment(1, "héllo");
  (*s.mutable_dropped())["like"] = 3;
  v1::ActionSegment back;
  ASSERT_TRUE(back.ParseFromString(segmenter::SerializeDeterministic(s)));
  EXPECT_EQ(back.messages(0).comment().text(), "héllo");
  EXPECT_EQ(back.dropped().at("like"), 3u);
  EXPECT_EQ(back.index(), 1764290000);
}

TEST(SchemasTest, JsonUsesProtoFieldNames) {
  auto json = segmenter::ToJson(Comment(17, "hi"));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_NE(json->find("\"ts_ms\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"seq\":\"17\""), std::string::npos) << *json;
  EXPECT_EQ(json->find("tsMs"), std::string::npos) << *json;
}

TEST(SchemasTest, IngestJsonParsesIntoMessageInput) {
  v1::PostMessagesRequest req;
  auto st = google::protobuf::util::JsonStringToMessage(
      R"({"messages": [{"type": "comment", "text": "hi", "client_msg_id": "c-42"},
                      {"type": "custom:poll", "data": {"q": "yes?", "n": 2}}]})",
      &req);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(req.messages_size(), 2);
  EXPECT_EQ(req.messages(0).client_msg_id(), "c-42");
  EXPECT_EQ(req.messages(1).data().fields().at("n").number_value(), 2);
}

TEST(SchemasTest, OpenRoomFieldsAreOptional) {
  v1::OpenRoomRequest req;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(R"({"bucket_ms": 250})",
                                                          &req).ok());
  EXPECT_TRUE(req.has_bucket_ms());
  EXPECT_FALSE(req.has_retention_s());
}

TEST(SchemasTest, DecodeRejectsGarbageForEveryClass) {
  using segmenter::ObjectClass;
  for (ObjectClass c : {ObjectClass::kManifest, ObjectClass::kActions,
                        ObjectClass::kState, ObjectClass::kSnapshot,
                        ObjectClass::kPeer}) {
    EXPECT_FALSE(segmenter::Decode(c, std::string("\xff\xff\xff\xff", 4)).ok());
    EXPECT_TRUE(segmenter::Decode(c, "").ok());  // all-default is valid
  }
}

TEST(SchemasTest, DigestIsSha256Hex) {
  // SHA-256("abc") from FIPS 180-2.
  EXPECT_EQ(base::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace roomcast
