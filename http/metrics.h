// The one Prometheus metrics registry of every roomcast server (the origin's
// and the publisher's GET /metrics): counters, gauges and histograms with
// labels, lock-free to update, rendered in the text exposition format.
//
//   Metrics m;
//   Counter& hits = m.AddCounter("roomcast_requests_total", "Requests served",
//                                {{"class", "actions"}, {"status", "200"}});
//   hits.Add();
//   m.AddCallbackGauge("roomcast_queue_depth", "Jobs waiting",
//                      [&] { return queue.size(); });
//   std::string text = m.Render();   // GET /metrics
//
// Handles are created once (at start-up, or lazily under the registry's lock)
// and then updated with relaxed atomics on hot paths. A value that already
// lives elsewhere (a queue's depth, a count another object keeps) is read by
// a callback at render time instead of being copied into a gauge.
#ifndef ROOMCAST_HTTP_METRICS_H_
#define ROOMCAST_HTTP_METRICS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace roomcast::http {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Fixed buckets, in the metric's unit (we use seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Cumulative counts per bound, then +Inf; and the sum.
  std::vector<uint64_t> Counts() const;
  double sum() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::deque<std::atomic<uint64_t>> counts_;  // per bucket, last is +Inf
  std::atomic<uint64_t> sum_micros_{0};
};

// Latency buckets from 1 ms to 10 s.
std::vector<double> LatencyBuckets();
// From 0.5 ms to 10 s, for steps that often take less than a millisecond (a
// group commit, a PUT on loopback).
std::vector<double> FastLatencyBuckets();

class Metrics {
 public:
  // Returns the series' handle, creating it on first use. Handles stay valid
  // for the registry's lifetime.
  Counter& AddCounter(const std::string& name, const std::string& help,
                      const Labels& labels = {});
  Gauge& AddGauge(const std::string& name, const std::string& help,
                  const Labels& labels = {});
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {},
                          std::vector<double> bounds = LatencyBuckets());
  // Series whose value `read` returns at each Render. `read` runs under the
  // registry's lock, so it must not call the registry, and must stay valid
  // for the registry's lifetime. Registering a series again replaces it.
  void AddCallbackCounter(const std::string& name, const std::string& help,
                          std::function<uint64_t()> read,
                          const Labels& labels = {});
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        std::function<int64_t()> read,
                        const Labels& labels = {});
  std::string Render() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, Counter> counters;  // by rendered labels
    std::map<std::string, Gauge> gauges;
    std::map<std::string, Histogram> histograms;
    std::map<std::string, std::function<uint64_t()>> counter_reads;
    std::map<std::string, std::function<int64_t()>> gauge_reads;
  };
  Family& FamilyOf(const std::string& name, const std::string& help,
                   const char* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void RenderFamily(const std::string& name, const Family& f,
                           std::string* out);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roomcast::http

#endif  // ROOMCAST_HTTP_METRICS_H_
