// The publisher's counters and latency histograms, updated with relaxed
// atomics on hot paths and rendered as Prometheus text for GET /metrics.
#ifndef ROOMCAST_PUBLISHER_PUBLISHER_METRICS_H_
#define ROOMCAST_PUBLISHER_PUBLISHER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace roomcast::publisher {

// Latency in seconds, buckets from 0.5 ms to 10 s.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10};
  void Observe(double seconds);
  // Appends the series in Prometheus text format.
  void Render(const std::string& name, const std::string& help,
              std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

struct PublisherMetrics {
  std::atomic<uint64_t> messages_accepted{0};
  std::atomic<uint64_t> messages_deduplicated{0};
  std::atomic<uint64_t> requests_rejected{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> uploads{0};
  std::atomic<uint64_t> upload_errors{0};
  std::atomic<uint64_t> upload_conflicts{0};  // 409: a bug alarm
  std::atomic<uint64_t> watermark_puts{0};
  std::atomic<int64_t> watermark_lag_ms{0};
  LatencyHistogram ack_latency;
  LatencyHistogram upload_latency;
};

}  // namespace roomcast::publisher

#endif  // ROOMCAST_PUBLISHER_PUBLISHER_METRICS_H_
