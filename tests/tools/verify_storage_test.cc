// `roomcast verify` (the real binary) against a room the real publisher
// published, after one stored segment was corrupted in the origin's RocksDB
// behind its back, as silent disk corruption would: the body changes, the
// stored digest (the ETag) does not. Verify must exit 1 and name the bucket;
// on a room left alone it exits 0.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "origin/stored.pb.h"
#include "segmenter/bucketer.h"
#include "segmenter/codec.h"
#include "segmenter/naming.h"
#include "tests/publisher/e2e_fixture.h"

namespace roomcast::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kBucketMs = 250;

std::string Rfc3339(int64_t ms) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

class VerifyStorageTest : public PublisherE2eTest {
 protected:
  // Posts `n` comments 100 ms apart and waits until every bucket they fell in
  // is closed at the origin.
  std::vector<Ack> Publish(const std::string& room, int n) {
    std::vector<Ack> acks;
    const std::string token = Token("viewer-1", v1::ROLE_AUDIENCE, room);
    for (int i = 0; i < n; ++i) {
      HttpResponse r = PostJson(absl::StrCat("/v1/rooms/", room, "/messages"),
                                absl::StrCat(R"({"type":"comment","text":"message )", i, R"("})"),
                                token);
      EXPECT_EQ(r.status, 200) << r.body;
      for (const Ack& a : ParseAcks(r.body)) acks.push_back(a);
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(WaitForWatermark(segmenter::BucketEnd(acks.back().bucket, kBucketMs), 10s));
    return acks;
  }
  RunResult Verify(const std::string& room, const std::vector<Ack>& acks) {
    return testing::Run({BinaryPath("roomcast"), "verify", "--base", origin_->url(), "--room", room,
                "--from", Rfc3339(acks.front().ts_ms), "--to", Rfc3339(acks.back().ts_ms + 1)},
               {}, 20s);
  }
  // With the origin stopped: changes one byte of the stored body of bucket
  // k's segment (a digit of a comment's text, so it still decodes), keeping
  // the stored digest and gzip. Returns the stored object as it was.
  origin::StoredObject CorruptStoredSegment(const std::string& room, int64_t k) {
    absl::StatusOr<segmenter::ObjectRef> ref =
        segmenter::ParsePath(segmenter::SegmentPath(room, kBucketMs, k));
    EXPECT_TRUE(ref.ok()) << ref.status();
    const std::string key = segmenter::StorageKey(*ref);
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::Options(), origin_dir_.path(), &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return {};
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string value;
    s = db->Get(rocksdb::ReadOptions(), key, &value);
    EXPECT_TRUE(s.ok()) << key << ": " << s.ToString();
    origin::StoredObject obj, bad;
    EXPECT_TRUE(obj.ParseFromString(value));
    bad = obj;
    const size_t at = bad.body().find("message ");
    EXPECT_NE(at, std::string::npos);
    if (at != std::string::npos) {
      char& digit = (*bad.mutable_body())[at + 8];
      digit = digit == '9' ? '0' : static_cast<char>(digit + 1);
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db->Put(sync, key, bad.SerializeAsString());
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(db->Close().ok());
    return obj;
  }
};

TEST_F(VerifyStorageTest, SegmentCorruptedInTheOriginsStorageFailsVerify) {
  OpenRoom("lobby", R"({"bucket_ms": 250})");
  OpenRoom("tidy", R"({"bucket_ms": 250})");
  const std::vector<Ack> lobby = Publish("lobby", 12);
  const std::vector<Ack> tidy = Publish("tidy", 6);
  RunResult before = Verify("lobby", lobby);
  ASSERT_EQ(before.status, 0) << before.out << before.err;
  EXPECT_TRUE(absl::StrContains(before.out, "12 actions, seqs 1..12")) << before.out;

  // A bucket in the middle, with actions.
  const int64_t k = lobby[lobby.size() / 2].bucket;
  const std::string path = segmenter::SegmentPath("lobby", kBucketMs, k);
  const int port = PortOf(origin_->url());
  ASSERT_EQ(origin_->Stop(SIGTERM), 0);
  const origin::StoredObject original = CorruptStoredSegment("lobby", k);
  ASSERT_FALSE(HasFailure());
  // Comments compress, so the store usually holds a gzip copy too, left
  // intact: verify (which asks for gzip) must still look at the body.
  RecordProperty("corrupted_segment_has_gzip_copy", original.gzip().empty() ? "no" : "yes");
  ASSERT_TRUE(origin_->Start(absl::StrCat("127.0.0.1:", port)));
  // The origin checks stored bytes against their digest on first read and
  // refuses to serve them as immutable: a loud, uncacheable 500.
  HttpResponse served = Get(origin_->url() + path);
  EXPECT_EQ(served.status, 500);
  EXPECT_TRUE(absl::StrContains(served.body, "\"corrupt\"")) << served.body;
  EXPECT_TRUE(served.header("etag").empty());
  EXPECT_EQ(served.header("cache-control"), "no-store");
  EXPECT_EQ(origin_->Metric("roomcast_origin_corrupt_objects_total"), 1);

  RunResult after = Verify("lobby", lobby);
  EXPECT_EQ(after.status, 1) << after.out << after.err;
  EXPECT_TRUE(absl::StrContains(after.out, "FAULT " + path)) << after.out;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(after.out, '\n'))) {
    if (absl::StartsWith(line, "FAULT ")) {
      // The corrupted bucket itself, or the seq gap its unreadable segment
      // leaves before the next one.
      EXPECT_TRUE(absl::StartsWith(line, "FAULT " + path + ":") ||
                  absl::StrContains(line, "gap: seqs"))
          << "another fault: " << line;
    }
  }
  EXPECT_EQ(std::count(after.err.begin(), after.err.end(), '\n'), 1) << after.err;
  EXPECT_TRUE(absl::StrContains(after.err, "fault")) << after.err;

  RunResult untouched = Verify("tidy", tidy);
  EXPECT_EQ(untouched.status, 0) << untouched.out << untouched.err;
  EXPECT_TRUE(absl::StrContains(untouched.out, "OK")) << untouched.out;
}

}  // namespace
}  // namespace roomcast::testing
