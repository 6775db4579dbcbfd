// A latency histogram for load generators: constant memory however many
// samples, about 1.6% relative error, exact count and max. Log-linear
// buckets as in HdrHistogram: 64 linear sub-buckets per power of two of
// nanoseconds.
//
//   LatencyHistogram h;
//   h.Record(std::chrono::steady_clock::now() - sent_at);
//   std::cout << h.Percentile(0.99).count() << " ns\n";
//
// Not thread-safe: give each load thread its own and Merge() them.
#ifndef ROOMCAST_BENCH_LOAD_LATENCY_HISTOGRAM_H_
#define ROOMCAST_BENCH_LOAD_LATENCY_HISTOGRAM_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace roomcast::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(std::chrono::nanoseconds latency);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  std::chrono::nanoseconds max() const { return std::chrono::nanoseconds(max_); }
  // The value at quantile q (0..1): an upper bound within ~1.6% of the true
  // sample, never above max(). Zero if empty.
  std::chrono::nanoseconds Percentile(double q) const;
  // "p50=1.23ms p99=4.56ms max=7.89ms n=5000".
  std::string Summary() const;

 private:
  static size_t IndexOf(uint64_t v);
  static uint64_t UpperBoundOf(size_t index);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// "1.23ms", "456us", "2.10s".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace roomcast::bench

#endif  // ROOMCAST_BENCH_LOAD_LATENCY_HISTOGRAM_H_
