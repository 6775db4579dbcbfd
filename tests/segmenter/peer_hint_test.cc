#include "segmenter/peer_hint.h"

#include <gtest/gtest.h>

#include <string>

namespace roomcast::segmenter {
namespace {

constexpr char kSecret[] = "room-secret-0123456789abcdef";

TEST(PeerHintTest, MembersAlwaysMatch) {
  PeerHintBuilder b(100);
  for (int i = 0; i < 100; ++i) b.Add(DeriveHintKey(kSecret, "u" + std::to_string(i)), 42);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(PeerHintMayContain(b.hint(), DeriveHintKey(kSecret, "u" + std::to_string(i)), 42));
  }
}

TEST(PeerHintTest, FalsePositiveRateAtCapacityIsAtMostOnePercent) {
  for (size_t capacity : {10u, 100u, 1000u}) {
    PeerHintBuilder b(capacity);
    for (size_t i = 0; i < capacity; ++i) b.Add(DeriveHintKey(kSecret, "m" + std::to_string(i)), 7);
    int hits = 0;
    const int kProbes = 100000;
    for (int i = 0; i < kProbes; ++i) {
      hits += PeerHintMayContain(b.hint(), DeriveHintKey(kSecret, "x" + std::to_string(i)), 7);
    }
    EXPECT_LE(hits, kProbes / 100) << "capacity " << capacity;
  }
}

TEST(PeerHintTest, EntriesAreKeyedByBucket) {
  PeerHintBuilder b(1);
  HintKey k = DeriveHintKey(kSecret, "alice");
  b.Add(k, 100);
  int other_buckets = 0;
  for (int64_t i = 101; i < 1101; ++i) other_buckets += PeerHintMayContain(b.hint(), k, i);
  EXPECT_LE(other_buckets, 10);  // the same user in another bucket is another entry
}

TEST(PeerHintTest, KeysDependOnTheRoomSecretAndTheUser) {
  EXPECT_NE(DeriveHintKey(kSecret, "alice"), DeriveHintKey(kSecret, "bob"));
  EXPECT_NE(DeriveHintKey(kSecret, "alice"), DeriveHintKey("other-room", "alice"));
  EXPECT_EQ(DeriveHintKey(kSecret, "alice"), DeriveHintKey(kSecret, "alice"));
}

TEST(PeerHintTest, HintRevealsNoUserId) {
  PeerHintBuilder b(4);
  b.Add(DeriveHintKey(kSecret, "alice"), 5);
  const v1::PeerHint& h = b.hint();
  EXPECT_EQ(h.SerializeAsString().find("alice"), std::string::npos);
  // Without the room secret, an unkeyed guess at alice's key does not match.
  HintKey guess{};
  int hits = 0;
  for (int i = 0; i < 1000; ++i) {
    guess[0] = static_cast<uint8_t>(i);
    guess[1] = static_cast<uint8_t>(i >> 8);
    hits += PeerHintMayContain(h, guess, 5);
  }
  EXPECT_LE(hits, 20);
}

TEST(PeerHintTest, ParametersTravelInTheHint) {
  PeerHintBuilder b(1000);
  EXPECT_EQ(b.hint().num_bits() % 8, 0u);
  EXPECT_EQ(b.hint().bits().size() * 8, b.hint().num_bits());
  EXPECT_GE(b.hint().num_bits(), 11028u);  // -1000 ln 0.005 / ln^2 2
  EXPECT_EQ(b.hint().num_hashes(), 8u);
}

TEST(PeerHintTest, MalformedHintFailsOpen) {
  v1::PeerHint bad;
  bad.set_num_bits(1 << 20);  // claims more bits than it carries
  bad.set_num_hashes(3);
  EXPECT_TRUE(PeerHintMayContain(bad, DeriveHintKey(kSecret, "a"), 1));
}

TEST(PeerHintTest, KeyBytesRoundTrip) {
  HintKey k = DeriveHintKey(kSecret, "alice");
  HintKey back{};
  ASSERT_TRUE(HintKeyFromBytes(HintKeyBytes(k), &back));
  EXPECT_EQ(k, back);
  EXPECT_FALSE(HintKeyFromBytes("short", &back));
}

}  // namespace
}  // namespace roomcast::segmenter
