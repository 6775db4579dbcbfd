#include "bench/load/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace roomcast::bench {
namespace {

constexpr int kSubBits = 6;  // 64 sub-buckets per power of two
constexpr uint64_t kSub = uint64_t{1} << kSubBits;
// Values below 2 * kSub get a bucket each; above, 64 per power of two.
constexpr size_t kBuckets = (64 - kSubBits) * kSub + kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

size_t LatencyHistogram::IndexOf(uint64_t v) {
  if (v < 2 * kSub) return static_cast<size_t>(v);
  const int shift = std::bit_width(v) - (kSubBits + 1);
  return static_cast<size_t>((shift + 1) * kSub + (v >> shift) - kSub);
}

uint64_t LatencyHistogram::UpperBoundOf(size_t index) {
  if (index < 2 * kSub) return index;
  const int shift = static_cast<int>(index / kSub) - 1;
  const uint64_t mantissa = index % kSub + kSub;
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::Record(std::chrono::nanoseconds latency) {
  const uint64_t v = static_cast<uint64_t>(std::max<int64_t>(0, latency.count()));
  ++buckets_[IndexOf(v)];
  ++count_;
  max_ = std::max(max_, v);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::chrono::nanoseconds LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_)));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::chrono::nanoseconds(std::min(UpperBoundOf(i), max_));
    }
  }
  return std::chrono::nanoseconds(max_);
}

std::string LatencyHistogram::Summary() const {
  return absl::StrCat("p50=", FormatDuration(Percentile(0.5)),
                      " p99=", FormatDuration(Percentile(0.99)),
                      " max=", FormatDuration(max()), " n=", count_);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  const double ns = static_cast<double>(d.count());
  if (ns >= 1e9) return absl::StrFormat("%.2fs", ns / 1e9);
  if (ns >= 1e6) return absl::StrFormat("%.2fms", ns / 1e6);
  if (ns >= 1e3) return absl::StrFormat("%.0fus", ns / 1e3);
  return absl::StrFormat("%.0fns", ns);
}

}  // namespace roomcast::bench
