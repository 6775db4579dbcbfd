#include "segmenter/cap.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "segmenter/messages.h"

namespace roomcast::segmenter {
namespace {

// splitmix64: a fixed, well-mixed hash so the sample is stable across runs.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Candidate {
  uint32_t rank;  // this sender's n-th normal message in the bucket
  uint64_t hash;
  size_t pos;
};

}  // namespace

int64_t BucketLimit(uint32_t cap_per_s, int64_t bucket_ms) {
  if (cap_per_s == 0) return 0;
  return std::max<int64_t>(1, (int64_t{cap_per_s} * bucket_ms + 999) / 1000);
}

CapResult ApplyCap(std::vector<v1::Message> messages, int64_t limit) {
  CapResult r;
  if (limit <= 0 || static_cast<int64_t>(messages.size()) <= limit) {
    r.kept = std::move(messages);
    return r;
  }
  std::vector<Candidate> normal;
  absl::flat_hash_map<std::string_view, uint32_t> per_sender;
  int64_t high = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const v1::Message& m = messages[i];
    if (m.priority() == v1::PRIORITY_HIGH) {
      ++high;
      continue;
    }
    normal.push_back({per_sender[m.sender()]++, Mix(m.seq()), i});
  }
  const size_t room = static_cast<size_t>(std::max<int64_t>(0, limit - high));
  std::vector<bool> keep(messages.size(), true);
  if (normal.size() > room) {
    std::nth_element(normal.begin(), normal.begin() + room, normal.end(),
                     [](const Candidate& a, const Candidate& b) {
                       return std::tie(a.rank, a.hash) < std::tie(b.rank, b.hash);
                     });
    for (size_t i = room; i < normal.size(); ++i) keep[normal[i].pos] = false;
  }
  r.kept.reserve(std::min(messages.size(), room + static_cast<size_t>(high)));
  for (size_t i = 0; i < messages.size(); ++i) {
    if (keep[i]) {
      r.kept.push_back(std::move(messages[i]));
    } else {
      ++r.dropped[TypeName(messages[i])];
    }
  }
  return r;
}

void ApplyByteBudget(CapResult& r, int64_t max_bytes) {
  if (max_bytes <= 0) return;
  // Each kept message's size in the segment: its bytes plus its tag and
  // length prefix (at most 6 bytes for a message under 4 GiB).
  int64_t total = 0;
  std::vector<int64_t> sizes(r.kept.size());
  for (size_t i = 0; i < r.kept.size(); ++i) {
    sizes[i] = static_cast<int64_t>(r.kept[i].ByteSizeLong()) + 6;
    total += sizes[i];
  }
  if (total <= max_bytes) return;
  struct Ranked {
    bool high;
    uint32_t rank;
    uint64_t hash;
    size_t pos;
  };
  std::vector<Ranked> order;
  absl::flat_hash_map<std::string_view, uint32_t> per_sender;
  for (size_t i = 0; i < r.kept.size(); ++i) {
    const v1::Message& m = r.kept[i];
    order.push_back({m.priority() == v1::PRIORITY_HIGH, per_sender[m.sender()]++,
                     Mix(m.seq()), i});
  }
  // Worst first: normal before high, later rank before earlier, then hash.
  std::sort(order.begin(), order.end(), [](const Ranked& a, const Ranked& b) {
    return std::tie(a.high, b.rank, b.hash) < std::tie(b.high, a.rank, a.hash);
  });
  std::vector<bool> keep(r.kept.size(), true);
  for (const Ranked& o : order) {
    if (total <= max_bytes) break;
    keep[o.pos] = false;
    total -= sizes[o.pos];
  }
  std::vector<v1::Message> kept;
  for (size_t i = 0; i < r.kept.size(); ++i) {
    if (keep[i]) {
      kept.push_back(std::move(r.kept[i]));
    } else {
      ++r.dropped[TypeName(r.kept[i])];
    }
  }
  r.kept = std::move(kept);
}

}  // namespace roomcast::segmenter
