// The streamed layout of an action segment (segmenter/live.h): records
// first, summary last, and its JSON and gzip renditions chunk by chunk.
#include "segmenter/live.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "segmenter/codec.h"
#include "segmenter/peer_hint.h"
#include "segmenter/segment.h"
#include "tests/segmenter/test_messages.h"

namespace roomcast::segmenter {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::Action;
using testing::GiftFrom;
using testing::LikeFrom;

// A segment with every field set: messages of several types (a Struct map
// among them), drop counts, a hint, last_bucket, retracted seqs.
v1::ActionSegment FullSegment(int n = 12) {
  v1::ActionSegment s = EmptySegment("live-room", 9, 1000, 1764290000);
  for (int i = 0; i < n; ++i) {
    const uint64_t seq = 100 + static_cast<uint64_t>(i);
    const int64_t ts = 1764290000000 + i;
    v1::Message m = i % 3 == 0   ? Action(seq, ts, "u" + std::to_string(i % 5))
                    : i % 3 == 1 ? LikeFrom(seq, ts, "fan")
                                 : GiftFrom(seq, ts, "patron");
    if (i == 4) {
      m.mutable_custom()->set_name("poll");
      auto& f = *m.mutable_custom()->mutable_data()->mutable_fields();
      f["zeta"].set_string_value("line one\nline two \"quoted\"");
      f["alpha"].set_number_value(2);
      f["mid"].set_bool_value(true);
    }
    *s.add_messages() = m;
  }
  s.set_first_seq(100);
  s.set_last_seq(100 + static_cast<uint64_t>(n) + 2);
  (*s.mutable_dropped())["like"] = 1;
  (*s.mutable_dropped())["comment"] = 1;
  s.add_retracted(100 + static_cast<uint64_t>(n) + 2);
  PeerHintBuilder hint(2);
  hint.Add(DeriveHintKey("secret", "u1"), s.index());
  *s.mutable_peer_hint() = hint.hint();
  s.set_last_bucket(s.index());
  return s;
}

bool Same(const google::protobuf::Message& a,
          const google::protobuf::Message& b) {
  return MessageDifferencer::Equals(a, b);
}

v1::ActionSegment Parse(absl::string_view pb) {
  v1::ActionSegment s;
  EXPECT_TRUE(s.ParseFromArray(pb.data(), static_cast<int>(pb.size())));
  return s;
}

std::string Concat(const std::vector<std::string>& chunks) {
  std::string out;
  for (const std::string& c : chunks) out += c;
  return out;
}

TEST(LiveTest, EncodeSegmentParsesBackAsTheSameSegment) {
  const v1::ActionSegment s = FullSegment();
  const std::string pb = EncodeSegment(s);
  EXPECT_TRUE(Same(Parse(pb), s));
  EXPECT_EQ(static_cast<unsigned char>(pb[0]), 0x3a);  // a record comes first
  EXPECT_EQ(Encode(s).bytes, pb);                      // codec dispatches to it
  EXPECT_EQ(SerializeDeterministic(s), pb);
  EXPECT_NE(SerializeFieldOrder(s), pb);  // the layout really moved
  EXPECT_EQ(SerializeFieldOrder(s).size(), pb.size());
}

TEST(LiveTest, ADynamicActionSegmentSerializesInTheLayoutToo) {
  const v1::ActionSegment s = FullSegment();
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> dyn(
      factory.GetPrototype(v1::ActionSegment::descriptor())->New());
  ASSERT_EQ(dynamic_cast<v1::ActionSegment*>(dyn.get()), nullptr);
  ASSERT_TRUE(dyn->ParseFromString(SerializeFieldOrder(s)));
  EXPECT_EQ(SerializeDeterministic(*dyn), EncodeSegment(s));
}

TEST(LiveTest, SummaryHoldsEveryFieldButTheMessages) {
  // Guards EncodeSummary's field-by-field copy against a new field.
  const v1::ActionSegment s = FullSegment();
  const v1::ActionSegment summary = Parse(EncodeSummary(s));
  const auto* d = v1::ActionSegment::descriptor();
  const auto* refl = summary.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->number() == v1::ActionSegment::kMessagesFieldNumber) {
      EXPECT_EQ(refl->FieldSize(summary, f), 0);
    } else if (f->is_repeated()) {
      EXPECT_GT(refl->FieldSize(summary, f), 0) << f->name() << " lost";
    } else {
      EXPECT_TRUE(refl->HasField(summary, f)) << f->name() << " lost";
    }
  }
  v1::ActionSegment want = s;
  want.clear_messages();
  EXPECT_TRUE(Same(summary, want));
  EXPECT_TRUE(
      SplitSegment(EncodeSummary(s)).value().records.empty());  // no field 7
  EXPECT_EQ(EncodeSummary(s), SerializeFieldOrder(want));
}

TEST(LiveTest, RecordIsOneWholeMessagesField) {
  const v1::Message m = Action(5, 10, "viewer");
  const std::string rec = EncodeRecord(m);
  v1::ActionSegment one;
  ASSERT_TRUE(one.ParseFromString(rec));
  ASSERT_EQ(one.messages_size(), 1);
  EXPECT_TRUE(Same(one.messages(0), m));
  EXPECT_EQ(rec.substr(2), SerializeFieldOrder(m));  // tag, 1-byte length, body
}

TEST(LiveTest, SplitSegmentRoundTrips) {
  const v1::ActionSegment s = FullSegment();
  const std::string pb = EncodeSegment(s);
  absl::StatusOr<SegmentParts> parts = SplitSegment(pb);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->records.size(), static_cast<size_t>(s.messages_size()));
  std::string joined;
  for (int i = 0; i < s.messages_size(); ++i) {
    EXPECT_EQ(parts->records[i], EncodeRecord(s.messages(i))) << i;
    absl::StrAppend(&joined, parts->records[i]);
  }
  EXPECT_EQ(parts->summary, EncodeSummary(s));
  EXPECT_EQ(joined + std::string(parts->summary), pb);
}

TEST(LiveTest, SplitSegmentOfAnEmptySegmentHasOnlyTheSummary) {
  const std::string pb = EncodeSegment(EmptySegment("r", 1, 1000, 7));
  absl::StatusOr<SegmentParts> parts = SplitSegment(pb);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_TRUE(parts->records.empty());
  EXPECT_EQ(parts->summary, pb);
  absl::StatusOr<SegmentParts> none = SplitSegment("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->records.empty());
  EXPECT_TRUE(none->summary.empty());
}

TEST(LiveTest, SplitSegmentRefusesBytesOutOfLayout) {
  const v1::ActionSegment s = FullSegment();
  const std::string pb = EncodeSegment(s);
  const std::string rec = EncodeRecord(Action(999, 1, "late"));
  const std::vector<std::string> bad = {
      SerializeFieldOrder(s),           // the old layout: records mid-way
      pb + rec,                         // a field 7 after the summary
      pb.substr(0, rec.size() - 1),     // a truncated record
      pb.substr(0, pb.size() - 1),      // a truncated summary
      std::string("\x38\x01", 2) + pb,  // field 7 as a varint
      std::string("\x3a\x03\xff\xff\xff", 5),  // a record that is no Message
      std::string("\x3a\xff\xff\xff\xff\x0f",
                  6),  // a record longer than the bytes
      std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                  11),         // bad varint
      std::string("\x00", 1),  // tag 0
      std::string("\x0c", 1),  // an end-group with no start
      "garbage bytes, not a segment",
  };
  for (const std::string& b : bad) {
    absl::StatusOr<SegmentParts> parts = SplitSegment(b);
    EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument)
        << absl::BytesToHexString(b.substr(0, 32));
  }
  // Every cut inside a record is refused (a cut between records is a
  // shorter segment without its summary, which is in the layout).
  absl::StatusOr<SegmentParts> parts = SplitSegment(pb);
  ASSERT_TRUE(parts.ok());
  size_t offset = 0;
  for (absl::string_view r : parts->records) {
    for (size_t cut = offset + 1; cut < offset + r.size(); ++cut) {
      EXPECT_FALSE(SplitSegment(absl::string_view(pb).substr(0, cut)).ok())
          << cut;
    }
    offset += r.size();
  }
}

TEST(LiveTest, JsonParsesAsTheSegmentWithOneRecordPerLine) {
  const v1::ActionSegment s = FullSegment();
  absl::StatusOr<std::string> json = RenderSegmentJson(EncodeSegment(s));
  ASSERT_TRUE(json.ok()) << json.status();
  v1::ActionSegment back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok())
      << *json;
  EXPECT_TRUE(Same(back, s));
  const std::vector<std::string> lines = absl::StrSplit(*json, '\n');
  ASSERT_EQ(lines.size(), static_cast<size_t>(s.messages_size()) + 2);
  EXPECT_EQ(lines.front() + "\n", JsonHead());
  // Each record's chunk ends its own line.
  EXPECT_EQ(JsonRecord(s.messages(0), true)->back(), '\n');
  for (int i = 0; i < s.messages_size(); ++i) {
    absl::string_view line = lines[static_cast<size_t>(i) + 1];
    ASSERT_EQ(line.substr(0, i == 0 ? 1 : 2), i == 0 ? "{" : ",{") << line;
    if (i != 0) line.remove_prefix(1);
    v1::Message m;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(std::string(line), &m).ok())
        << line;
    EXPECT_TRUE(Same(m, s.messages(i))) << line;
  }
  EXPECT_EQ(lines.back().substr(0, 2), "],");
  EXPECT_EQ(RenderJson(ObjectClass::kActions, EncodeSegment(s)).value(), *json);
}

// A Custom record whose data nests `depth` Structs, each under a key of
// awkward characters: the joint print of JsonRecordLines must split back
// exactly where the record ends.
v1::Message NestedRecord(uint64_t seq, int depth) {
  v1::Message m = Action(seq, 1764290000000 + static_cast<int64_t>(seq), "nester");
  m.mutable_custom()->set_name("nest");
  google::protobuf::Struct* at = m.mutable_custom()->mutable_data();
  for (int i = 0; i < depth; ++i) {
    auto& f = *at->mutable_fields();
    f["s"].set_string_value("a,b}]\\\",{\"x\":[1,2]}\u2028<\x01");
    f["l"].mutable_list_value()->add_values()->set_string_value("],[");
    at = f["k,}{" + std::to_string(i)].mutable_struct_value();
  }
  return m;
}

TEST(LiveTest, JsonRecordLinesAreEachRecordsOwnLine) {
  const v1::ActionSegment s = FullSegment();
  std::vector<std::string> spans;
  for (const v1::Message& m : s.messages()) spans.push_back(EncodeRecord(m));
  for (int d : {1, 3, 7}) {
    spans.push_back(EncodeRecord(NestedRecord(200 + static_cast<uint64_t>(d), d)));
  }
  const std::vector<absl::string_view> views(spans.begin(), spans.end());
  for (size_t first : {size_t{0}, size_t{5}}) {
    absl::StatusOr<std::vector<std::string>> lines = JsonRecordLines(views, first);
    ASSERT_TRUE(lines.ok()) << lines.status();
    ASSERT_EQ(lines->size(), spans.size());
    for (size_t i = 0; i < spans.size(); ++i) {
      EXPECT_EQ((*lines)[i], JsonRecordFromBytes(spans[i], first + i == 0).value()) << i;
    }
  }
  EXPECT_TRUE(JsonRecordLines({}, 0)->empty());
  // A span that is no record fails as JsonRecordFromBytes does.
  std::vector<absl::string_view> bad = views;
  const std::string not_a_record = "\x0a\x01x";
  bad.insert(bad.begin() + 2, not_a_record);
  EXPECT_EQ(JsonRecordLines(bad, 0).status(), JsonRecordFromBytes(not_a_record, false).status());
}

// The joint print splits back into exactly each record's own print.
TEST(LiveTest, SplitJsonMessagesGivesEachRecordOfAJointPrint) {
  const v1::ActionSegment s = FullSegment();
  v1::ActionSegment records_only;
  *records_only.mutable_messages() = s.messages();
  records_only.add_messages()->CopyFrom(NestedRecord(300, 4));
  records_only.add_messages();  // all defaults: prints as {}
  absl::StatusOr<std::string> joint = ToJson(records_only);
  ASSERT_TRUE(joint.ok()) << joint.status();
  std::vector<absl::string_view> each;
  ASSERT_TRUE(SplitJsonMessages(*joint, &each)) << *joint;
  ASSERT_EQ(each.size(), static_cast<size_t>(records_only.messages_size()));
  for (int i = 0; i < records_only.messages_size(); ++i) {
    EXPECT_EQ(each[static_cast<size_t>(i)], ToJson(records_only.messages(i)).value()) << i;
  }
  EXPECT_EQ(each.back(), "{}");
  for (absl::string_view not_split :
       {"", "{}", "{\"messages\":[]}", "{\"messages\":[{}]", "{\"messages\":[{}]}x",
        "{\"messages\":[{\"a\":\"]}\"]}", "{\"messages\":[{}]],[{}]}",
        "{\"messages\":[{\"a\":\"\\\"}]}", "{\"room\":\"r\",\"messages\":[{}]}"}) {
    std::vector<absl::string_view> out;
    EXPECT_FALSE(SplitJsonMessages(not_split, &out)) << not_split;
  }
}

// Nesting near the printer's depth limit: a record at one level deeper in
// the joint print than alone gets the line (or the error) it has alone.
TEST(LiveTest, JsonRecordLinesOfDeepRecordsMatchOneByOne) {
  int printed_alone = 0;
  int refused_alone = 0;
  for (int depth = 20; depth <= 40; ++depth) {
    const std::string deep = EncodeRecord(NestedRecord(1, depth));
    const std::string plain = EncodeRecord(Action(2, 2));
    const std::vector<absl::string_view> views = {plain, deep, plain};
    absl::StatusOr<std::string> alone = JsonRecordFromBytes(deep, false);
    absl::StatusOr<std::vector<std::string>> lines = JsonRecordLines(views, 3);
    ASSERT_EQ(lines.ok(), alone.ok()) << depth << " " << lines.status();
    if (!alone.ok()) {
      ++refused_alone;
      continue;
    }
    ++printed_alone;
    EXPECT_EQ((*lines)[1], *alone) << depth;
    EXPECT_EQ((*lines)[0], JsonRecordFromBytes(plain, false).value());
  }
  // The range holds the limit: some depths print, some do not.
  EXPECT_GT(printed_alone, 0);
  EXPECT_GT(refused_alone, 0);
}

TEST(LiveTest, EmptySegmentJsonHasNoRecordLine) {
  const v1::ActionSegment s = EmptySegment("r", 3, 1000, 7);
  absl::StatusOr<std::string> json = RenderSegmentJson(EncodeSegment(s));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            "{\"messages\":[\n],\"room\":\"r\",\"epoch\":\"3\","
            "\"bucket_ms\":1000,\"index\":\"7\"}");
  v1::ActionSegment back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  EXPECT_TRUE(Same(back, s));
  EXPECT_EQ(JsonTail("").value(), "]}");  // a summary of defaults only
  EXPECT_FALSE(
      JsonTail(EncodeRecord(Action(1, 1))).ok());  // a record is no summary
}

TEST(LiveTest, JsonPrintsMapsSortedByKey) {
  // protobuf's maps iterate in a per-process random order; the rendition
  // must not depend on it (the stream and the stored object must agree).
  v1::Message a = Action(1, 1), b = Action(1, 1);
  for (const char* k : {"zeta", "alpha", "mid", "beta"}) {
    (*a.mutable_custom()->mutable_data()->mutable_fields())[k].set_bool_value(
        true);
  }
  for (const char* k : {"mid", "beta", "zeta", "alpha"}) {
    (*b.mutable_custom()->mutable_data()->mutable_fields())[k].set_bool_value(
        true);
  }
  const std::string json = ToJson(a).value();
  EXPECT_EQ(ToJson(b).value(), json);
  EXPECT_NE(
      json.find(R"("data":{"alpha":true,"beta":true,"mid":true,"zeta":true})"),
      std::string::npos)
      << json;
  v1::ActionSegment s = EmptySegment("r", 1, 1000, 2);
  for (const char* k : {"like", "comment", "gift", "enter"})
    (*s.mutable_dropped())[k] = 1;
  EXPECT_NE(
      JsonTail(EncodeSummary(s))
          .value()
          .find(
              R"("dropped":{"comment":"1","enter":"1","gift":"1","like":"1"})"),
      std::string::npos);
}

TEST(LiveTest, RenderJsonKeepsTheRenditionOfAnOldLayoutSegment) {
  // Stored before the streamed layout: its .json was served, and an
  // immutable object's rendition must not change.
  const v1::ActionSegment s = FullSegment();
  EXPECT_EQ(RenderJson(ObjectClass::kActions, SerializeFieldOrder(s)).value(),
            ToJson(s).value());
  EXPECT_FALSE(RenderJson(ObjectClass::kActions, "not a segment at all").ok());
}

TEST(LiveTest, ChunksConcatenateToTheStoredRendition) {
  for (int n : {0, 1, 30}) {
    const std::string pb = EncodeSegment(FullSegment(n));
    auto pb_chunks = SegmentChunks(pb, Rendition::kPb);
    auto json_chunks = SegmentChunks(pb, Rendition::kJson);
    ASSERT_TRUE(pb_chunks.ok() && json_chunks.ok());
    EXPECT_EQ(pb_chunks->size(), static_cast<size_t>(n) + 2);
    EXPECT_EQ(json_chunks->size(), static_cast<size_t>(n) + 2);
    EXPECT_EQ(pb_chunks->front(), "");
    EXPECT_EQ(json_chunks->front(), JsonHead());
    EXPECT_EQ(Concat(*pb_chunks), pb) << n;
    EXPECT_EQ(Concat(*json_chunks), RenderSegmentJson(pb).value()) << n;
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ((*json_chunks)[static_cast<size_t>(i) + 1],
                JsonRecord(FullSegment(n).messages(i), i == 0).value());
    }
  }
  EXPECT_FALSE(SegmentChunks("\xff", Rendition::kJson).ok());
}

// Inflates `gz` (a gzip stream, maybe unfinished) with Z_SYNC_FLUSH: what a
// reader can decode of it so far. `ended` says whether the stream ended.
std::string Inflate(absl::string_view gz, bool* ended = nullptr) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  int rc = Z_OK;
  char buf[4096];
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK && (z.avail_out == 0 || z.avail_in > 0));
  EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR) << rc;
  EXPECT_EQ(z.avail_in, 0u);  // everything given was used
  if (ended != nullptr) *ended = rc == Z_STREAM_END;
  inflateEnd(&z);
  return out;
}

TEST(LiveTest, GzipIsFlushedPerChunkAndDeterministic) {
  const std::string pb = EncodeSegment(FullSegment(40));
  for (Rendition r : {Rendition::kPb, Rendition::kJson}) {
    const std::vector<std::string> chunks = SegmentChunks(pb, r).value();
    const std::string gz = GzipSegment(chunks);
    bool ended = false;
    EXPECT_EQ(Inflate(gz, &ended), Concat(chunks));
    EXPECT_TRUE(ended);
    EXPECT_EQ(GzipSegment(chunks), gz);  // a second run: the same bytes
    // zlib's default header: no name, mtime 0, OS 3 (unix).
    ASSERT_GT(gz.size(), 10u);
    EXPECT_EQ(gz.substr(0, 8),
              std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
    EXPECT_EQ(gz[9], '\x03');
    // Fed chunk by chunk, as an origin streams it: the same bytes, and each
    // prefix decodes to exactly the chunks so far.
    ChunkGzip stream;
    std::string sent, plain;
    for (size_t i = 0; i + 1 < chunks.size(); ++i) {
      sent += stream.Add(chunks[i]);
      plain += chunks[i];
      bool done = true;
      EXPECT_EQ(Inflate(sent, &done), plain) << i;
      EXPECT_FALSE(done);
    }
    sent += stream.Finish(chunks.back());
    EXPECT_EQ(sent, gz);
  }
}

TEST(LiveTest, GzipOfAnEmptySegmentIsTheHeadThenTheSummary) {
  const std::string pb = EncodeSegment(EmptySegment("r", 1, 1000, 7));
  const std::vector<std::string> chunks =
      SegmentChunks(pb, Rendition::kPb).value();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Inflate(GzipSegment(chunks)), pb);
  EXPECT_EQ(Inflate(GzipSegment({})), "");
}

}  // namespace
}  // namespace roomcast::segmenter
