// The progressive segment reader (client/internal/segment_stream.h): fed a
// segment's bytes in any pieces, it hands over the same records, in order,
// as soon as each is complete, and ends with the segment parsing the whole
// body gives; hostile bytes are refused without crashing.
#include "client/internal/segment_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "segmenter/live.h"

namespace roomcast::client::internal {
namespace {

using google::protobuf::util::MessageDifferencer;

v1::ActionSegment Sample() {
  v1::ActionSegment s;
  s.set_room("lobby");
  s.set_epoch(3);
  s.set_bucket_ms(1000);
  s.set_index(1764600000);
  s.set_first_seq(10);
  s.set_last_seq(14);
  for (uint64_t seq : {10, 11, 13}) {
    v1::Message* m = s.add_messages();
    m->set_seq(seq);
    m->set_ts_ms(1764600000000 + static_cast<int64_t>(seq));
    m->set_sender("u" + std::to_string(seq));
    m->mutable_comment()->set_text(std::string(seq * 3, 'x'));  // lengths differ
  }
  (*s.mutable_dropped())["like"] = 1;
  s.mutable_peer_hint()->set_num_bits(64);
  s.mutable_peer_hint()->set_num_hashes(3);
  s.mutable_peer_hint()->set_bits(std::string(8, '\x5a'));
  s.add_retracted(12);
  return s;
}

// The streamed layout (segmenter/live.h), written independently of the
// segmenter: each message as one field 7, then the rest.
std::string RecordsFirst(const v1::ActionSegment& s) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    for (const v1::Message& m : s.messages()) {
      coded.WriteTag(0x3a);
      coded.WriteVarint32(static_cast<uint32_t>(m.ByteSizeLong()));
      m.SerializeWithCachedSizes(&coded);
    }
  }
  v1::ActionSegment summary = s;
  summary.clear_messages();
  std::string tail;
  summary.SerializeToString(&tail);
  return out + tail;
}

struct Read {
  absl::Status fed;
  std::vector<uint64_t> seqs;
  std::vector<size_t> at;  // bytes fed when each record was handed over
  absl::StatusOr<v1::ActionSegment> segment;
};

Read ReadIn(const std::string& body, const std::vector<size_t>& cuts,
            size_t max_bytes = SegmentStream::kDefaultMaxBytes) {
  Read r;
  SegmentStream stream(max_bytes);
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(body.size());
  for (size_t to : ends) {
    r.fed = stream.Feed(absl::string_view(body).substr(from, to - from),
                        [&](const v1::Message& m) {
                          r.seqs.push_back(m.seq());
                          r.at.push_back(to);
                        });
    from = to;
    if (!r.fed.ok()) return r;
  }
  r.segment = stream.Finish();
  return r;
}

void ExpectSame(const v1::ActionSegment& want, const Read& r) {
  ASSERT_TRUE(r.fed.ok()) << r.fed;
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
  EXPECT_EQ(r.seqs, (std::vector<uint64_t>{10, 11, 13}));
  EXPECT_TRUE(MessageDifferencer::Equals(want, *r.segment)) << r.segment->DebugString();
}

TEST(SegmentStreamTest, EverySplitGivesTheSameRecordsAndSummary) {
  const v1::ActionSegment want = Sample();
  const std::string body = RecordsFirst(want);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE(cut);
    ExpectSame(want, ReadIn(body, {cut}));
  }
  for (size_t a = 0; a <= body.size(); a += 3) {
    for (size_t b = a; b <= body.size(); b += 5) ExpectSame(want, ReadIn(body, {a, b}));
  }
}

TEST(SegmentStreamTest, EverySplitOfTheSegmentersOutputReadsAsTheSegment) {
  // What the publisher stores and the origin streams (segmenter/live.h).
  const v1::ActionSegment want = Sample();
  const std::string body = segmenter::EncodeSegment(want);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE(cut);
    ExpectSame(want, ReadIn(body, {cut}));
  }
  // Records first: each handed over before the summary's first byte.
  const Read r = ReadIn(body, {});
  ASSERT_TRUE(r.segment.ok());
  const absl::StatusOr<segmenter::SegmentParts> parts = segmenter::SplitSegment(body);
  ASSERT_TRUE(parts.ok());
  size_t end = 0;
  std::vector<size_t> cuts;
  for (absl::string_view rec : parts->records) {
    end += rec.size();
    cuts.push_back(end);
  }
  const Read by_record = ReadIn(body, cuts);
  ExpectSame(want, by_record);
  EXPECT_EQ(by_record.at, (std::vector<size_t>{cuts[0], cuts[1], cuts[2]}));
  EXPECT_EQ(RecordsFirst(want), body);  // the layout this file's tests write
}

TEST(SegmentStreamTest, ByteByByteEachRecordArrivesWithItsLastByte) {
  const v1::ActionSegment want = Sample();
  const std::string body = RecordsFirst(want);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
  const Read r = ReadIn(body, cuts);
  ExpectSame(want, r);
  // Record i ends where the first i+1 records' bytes end: handed over then,
  // not one byte later, and long before the summary.
  size_t end = 0;
  for (int i = 0; i < want.messages_size(); ++i) {
    end += 1 + 1 + want.messages(i).ByteSizeLong();  // tag, 1-byte length, body
    EXPECT_EQ(r.at[i], end) << i;
  }
  EXPECT_LT(r.at.back(), body.size());
}

TEST(SegmentStreamTest, TheOldFieldOrderReadsTheSame) {
  // Stored before the streamed layout: fields in number order, 1-6 first.
  const v1::ActionSegment want = Sample();
  std::string body;
  want.SerializeToString(&body);
  for (size_t cut = 0; cut <= body.size(); ++cut) ExpectSame(want, ReadIn(body, {cut}));
}

TEST(SegmentStreamTest, AnEmptySegmentHasNoRecords) {
  v1::ActionSegment empty;
  empty.set_room("lobby");
  empty.set_index(7);
  const Read r = ReadIn(RecordsFirst(empty), {2});
  ASSERT_TRUE(r.segment.ok());
  EXPECT_TRUE(r.seqs.empty());
  EXPECT_EQ(r.segment->index(), 7);
  const Read none = ReadIn("", {});
  ASSERT_TRUE(none.segment.ok());
  EXPECT_EQ(none.segment->messages_size(), 0);
}

TEST(SegmentStreamTest, ABodyCutInsideAFieldIsNotASegment) {
  const std::string body = RecordsFirst(Sample());
  for (size_t len = 1; len < body.size(); ++len) {
    const Read r = ReadIn(body.substr(0, len), {});
    // Records before the cut were handed over; the end is refused (unless
    // the cut falls between two fields, which only the transport can tell).
    ASSERT_TRUE(r.fed.ok()) << len;
    if (r.segment.ok()) continue;
    EXPECT_EQ(r.segment.status().code(), absl::StatusCode::kInvalidArgument);
  }
  // Cut inside the first record: nothing handed over, and refused.
  const Read r = ReadIn(body.substr(0, 5), {});
  EXPECT_TRUE(r.seqs.empty());
  EXPECT_FALSE(r.segment.ok());
}

TEST(SegmentStreamTest, AFieldLongerThanTheLimitIsRefusedBeforeItIsBuffered) {
  // Field 7 claiming 1 GiB: refused from its header alone.
  const std::string huge = std::string("\x3a\x80\x80\x80\x80\x04", 6);
  const Read r = ReadIn(huge, {}, size_t{1} << 20);
  EXPECT_EQ(r.fed.code(), absl::StatusCode::kResourceExhausted);
  // Same for a summary field (room, field 1).
  const Read s = ReadIn(std::string("\x0a\xff\xff\x7f", 4), {}, 1000);
  EXPECT_EQ(s.fed.code(), absl::StatusCode::kResourceExhausted);
  // And a body past the limit, however it is cut.
  const std::string body = RecordsFirst(Sample());
  const Read t = ReadIn(body, {body.size() / 2}, body.size() - 1);
  EXPECT_EQ(t.fed.code(), absl::StatusCode::kResourceExhausted);
}

TEST(SegmentStreamTest, GarbageIsRefusedAndTheErrorSticks) {
  const std::vector<std::string> bad = {
      std::string("\x00\x00", 2),                   // field 0
      std::string("\x38\x01", 2),                   // field 7 as a varint
      std::string("\x3a\x02\xff\xff", 4),           // a record that does not parse
      std::string("\x0b\x00", 2),                   // a group
      std::string("\x0f", 1) + std::string(12, 0),  // wire type 7
      std::string(12, '\xff'),                      // a tag that never ends
      std::string("\x08") + std::string(11, '\x80'),  // a varint that never ends
  };
  for (const std::string& b : bad) {
    SegmentStream stream;
    absl::Status st = stream.Feed(b, [](const v1::Message&) {});
    if (st.ok()) st = stream.Finish().status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_FALSE(stream.Feed(RecordsFirst(Sample()), [](const v1::Message&) {}).ok());
  }
}

}  // namespace
}  // namespace roomcast::client::internal
