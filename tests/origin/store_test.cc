// origin/store.cc on a real RocksDB in a temporary directory: the immutable
// write contract, mutable objects, gzip copies, the expiry index and sweep,
// what survives a reopen, and corruption found rather than served.
#include "origin/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <functional>
#include <memory>
#include <string>

#include "base/crypto.h"
#include "segmenter/naming.h"
#include "tests/support/process.h"

namespace roomcast::origin {
namespace {

using testing::TempDir;

std::string SegmentKey(int64_t k) {
  return segmenter::StorageKey({.cls = segmenter::ObjectClass::kActions,
                                .room = "lobby", .bucket_ms = 1000, .number = k});
}

// Compressible, so the store keeps a gzip copy.
std::string BigBody(char fill = 'a') { return std::string(4096, fill); }

RoomMeta Meta(const std::string& room, uint64_t version) {
  RoomMeta m;
  m.set_room(room);
  m.set_epoch(1);
  m.set_publisher("pub-1");
  m.set_bucket_ms(1000);
  m.set_manifest_version(version);
  return m;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    auto s = Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // Closes the store, lets `edit` write to the RocksDB under it (what a
  // lying disk would leave), and opens the store again.
  void EditRaw(const std::function<void(rocksdb::DB&)>& edit) {
    store_.reset();
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    edit(*db);
    ASSERT_TRUE(db->Close().ok());
    db.reset();
    Reopen();
  }

  void PutRaw(const std::string& key, const std::string& value) {
    EditRaw([&](rocksdb::DB& db) {
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), key, value).ok());
    });
  }

  // Rewrites the stored object under `key` as `change` says.
  void TamperWith(const std::string& key, void (*change)(StoredObject&)) {
    EditRaw([&](rocksdb::DB& db) {
      std::string value;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), key, &value).ok());
      StoredObject obj;
      ASSERT_TRUE(obj.ParseFromString(value));
      change(obj);
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), key, obj.SerializeAsString()).ok());
    });
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, ImmutablePutIsReadBackWithItsDigestAndLifetime) {
  auto put = store_->PutImmutable(SegmentKey(1), "segment bytes", 1000, 60);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(*put, PutOutcome::kCreated);
  auto got = store_->Get(SegmentKey(1));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->body(), "segment bytes");
  EXPECT_EQ((*got)->digest(), base::Sha256Hex("segment bytes"));
  EXPECT_EQ((*got)->created_ms(), 1000);
  EXPECT_EQ((*got)->expires_ms(), 61000);
  auto cached = store_->GetImmutable(SegmentKey(1));
  ASSERT_TRUE(cached.ok() && *cached != nullptr);
  EXPECT_EQ((*cached)->body(), "segment bytes");
}

TEST_F(StoreTest, IdenticalRePutIsUnchangedAndKeepsTheFirstWrite) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), "same", 1000, 60).ok());
  auto again = store_->PutImmutable(SegmentKey(1), "same", 9000, 60);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, PutOutcome::kUnchanged);
  EXPECT_EQ((*store_->Get(SegmentKey(1)))->created_ms(), 1000);
  EXPECT_EQ((*store_->Get(SegmentKey(1)))->expires_ms(), 61000);
}

TEST_F(StoreTest, ConflictingRePutIsRefusedAndKeepsTheFirstBytes) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), "first", 1000, 60).ok());
  ASSERT_TRUE(store_->GetImmutable(SegmentKey(1)).ok());  // now in memory too
  auto other = store_->PutImmutable(SegmentKey(1), "second", 2000, 60);
  EXPECT_TRUE(absl::IsAlreadyExists(other.status())) << other.status();
  EXPECT_EQ((*store_->Get(SegmentKey(1)))->body(), "first");
  EXPECT_EQ((*store_->GetImmutable(SegmentKey(1)))->body(), "first");
}

TEST_F(StoreTest, MutableObjectIsReplacedButKeepsItsCreationTime) {
  const std::string key = "r/lobby/m";
  auto first = store_->PutMutable(key, "manifest v1", 1000, 60);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, PutOutcome::kCreated);
  auto second = store_->PutMutable(key, "manifest v2", 5000, 60);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, PutOutcome::kReplaced);
  auto got = store_->Get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->body(), "manifest v2");
  EXPECT_EQ((*got)->digest(), base::Sha256Hex("manifest v2"));
  EXPECT_EQ((*got)->created_ms(), 1000);
  EXPECT_EQ((*got)->expires_ms(), 65000);
}

TEST_F(StoreTest, ReplacedObjectExpiresOnItsNewScheduleOnly) {
  const std::string key = "r/lobby/m";
  ASSERT_TRUE(store_->PutMutable(key, "v1", 0, 10).ok());       // expires at 10 s
  ASSERT_TRUE(store_->PutMutable(key, "v2", 5000, 10).ok());    // now at 15 s
  auto swept = store_->SweepExpired(10000);
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 0u);  // the old index entry went with the old version
  EXPECT_TRUE((*store_->Get(key)).has_value());
  EXPECT_EQ(*store_->SweepExpired(15000), 1u);
  EXPECT_FALSE((*store_->Get(key)).has_value());
}

TEST_F(StoreTest, CompressibleBodyKeepsAGzipCopyOfTheSameBytes) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), BigBody(), 0, 60).ok());
  auto got = store_->Get(SegmentKey(1));
  ASSERT_TRUE(got.ok() && got->has_value());
  ASSERT_FALSE((*got)->gzip().empty());
  EXPECT_LT((*got)->gzip().size(), BigBody().size());
  EXPECT_EQ(Gunzip((*got)->gzip()), BigBody());
}

TEST_F(StoreTest, BodyThatGzipWouldNotShrinkHasNoGzipCopy) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), "ab", 0, 60).ok());
  EXPECT_TRUE((*store_->Get(SegmentKey(1)))->gzip().empty());
}

TEST_F(StoreTest, GzipRoundTripsAndGunzipRefusesOtherBytes) {
  const std::string text = "hello hello hello hello";
  const std::string gz = Gzip(text);
  EXPECT_EQ(gz.substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(Gunzip(gz), text);
  EXPECT_EQ(Gunzip("not gzip at all"), "");
}

TEST_F(StoreTest, AbsentObjectIsNotRememberedAsAbsent) {
  auto before = store_->GetImmutable(SegmentKey(7));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, nullptr);
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(7), "arrived", 0, 60).ok());
  auto after = store_->GetImmutable(SegmentKey(7));
  ASSERT_TRUE(after.ok() && *after != nullptr);
  EXPECT_EQ((*after)->body(), "arrived");
}

TEST_F(StoreTest, SweepRemovesWhatExpiredAtOrBeforeNowAndNothingElse) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), "brief", 0, 1).ok());    // 1 s
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(2), "longer", 0, 10).ok());  // 10 s
  ASSERT_NE(*store_->GetImmutable(SegmentKey(1)), nullptr);  // cached in memory
  EXPECT_EQ(*store_->SweepExpired(999), 0u);
  EXPECT_EQ(*store_->SweepExpired(1000), 1u);
  EXPECT_FALSE((*store_->Get(SegmentKey(1))).has_value());
  EXPECT_EQ(*store_->GetImmutable(SegmentKey(1)), nullptr);  // forgotten too
  EXPECT_TRUE((*store_->Get(SegmentKey(2))).has_value());
  EXPECT_EQ(*store_->SweepExpired(1000), 0u);
}

TEST_F(StoreTest, SweepStopsAtItsLimitAndTheRestFollowNextTime) {
  for (int k = 0; k < 5; ++k) {
    ASSERT_TRUE(store_->PutImmutable(SegmentKey(k), "x" + std::to_string(k), 0, 1).ok());
  }
  EXPECT_EQ(*store_->SweepExpired(5000, 2), 2u);
  EXPECT_EQ(*store_->SweepExpired(5000, 2), 2u);
  EXPECT_EQ(*store_->SweepExpired(5000, 2), 1u);
  EXPECT_EQ(*store_->SweepExpired(5000, 2), 0u);
  for (int k = 0; k < 5; ++k) EXPECT_FALSE((*store_->Get(SegmentKey(k))).has_value());
}

TEST_F(StoreTest, RoomMetasWatermarksAndObjectsSurviveAReopen) {
  ASSERT_TRUE(store_->PutRoomMeta(Meta("lobby", 1)).ok());
  ASSERT_TRUE(store_->PutRoomMeta(Meta("lobby", 2)).ok());  // replaces
  ASSERT_TRUE(store_->PutRoomMeta(Meta("arena", 5)).ok());
  v1::Watermark wm;
  wm.set_publisher("pub-1");
  wm.set_watermark_ms(123456);
  ASSERT_TRUE(store_->PutWatermark(wm).ok());
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(3), "kept", 0, 60).ok());
  Reopen();
  auto metas = store_->LoadRoomMetas();
  ASSERT_TRUE(metas.ok()) << metas.status();
  ASSERT_EQ(metas->size(), 2u);
  EXPECT_EQ((*metas)[0].room(), "arena");  // key order
  EXPECT_EQ((*metas)[1].room(), "lobby");
  EXPECT_EQ((*metas)[1].manifest_version(), 2u);
  auto wms = store_->LoadWatermarks();
  ASSERT_TRUE(wms.ok()) << wms.status();
  ASSERT_EQ(wms->size(), 1u);
  EXPECT_EQ((*wms)[0].publisher(), "pub-1");
  EXPECT_EQ((*wms)[0].watermark_ms(), 123456);
  EXPECT_EQ((*store_->Get(SegmentKey(3)))->body(), "kept");
}

TEST_F(StoreTest, BodyThatNoLongerMatchesItsDigestIsDataLoss) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), "honest bytes", 0, 60).ok());
  TamperWith(SegmentKey(1), [](StoredObject& o) { o.set_body("dishonest bytes"); });
  auto got = store_->GetImmutable(SegmentKey(1));
  EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
}

TEST_F(StoreTest, GzipCopyThatDiffersFromTheBodyIsDataLoss) {
  ASSERT_TRUE(store_->PutImmutable(SegmentKey(1), BigBody(), 0, 60).ok());
  TamperWith(SegmentKey(1), [](StoredObject& o) { o.set_gzip(Gzip(BigBody('b'))); });
  auto got = store_->GetImmutable(SegmentKey(1));
  EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
}

TEST_F(StoreTest, UnparsableRecordsAreDataLoss) {
  PutRaw(SegmentKey(1), "\xff\xff\xff\xff\x0f");
  EXPECT_TRUE(absl::IsDataLoss(store_->Get(SegmentKey(1)).status()));
  PutRaw("c/lobby", "\xff\xff\xff\xff\x0f");
  EXPECT_TRUE(absl::IsDataLoss(store_->LoadRoomMetas().status()));
}

}  // namespace
}  // namespace roomcast::origin
