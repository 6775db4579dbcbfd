#include "http/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace roomcast::http {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(MetricsTest, CountersAndGaugesRenderWithHelpAndType) {
  Metrics m;
  m.AddCounter("roomcast_hits_total", "Hits").Add(3);
  m.AddGauge("roomcast_open", "Open things").Set(-2);
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, "# HELP roomcast_hits_total Hits"));
  EXPECT_TRUE(Has(text, "# TYPE roomcast_hits_total counter"));
  EXPECT_TRUE(Has(text, "roomcast_hits_total 3"));
  EXPECT_TRUE(Has(text, "# TYPE roomcast_open gauge"));
  EXPECT_TRUE(Has(text, "roomcast_open -2"));
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  Metrics m;
  Counter& a = m.AddCounter("roomcast_x_total", "X", {{"class", "a"}});
  Counter& again = m.AddCounter("roomcast_x_total", "X", {{"class", "a"}});
  Counter& b = m.AddCounter("roomcast_x_total", "X", {{"class", "b"}});
  EXPECT_EQ(&a, &again);
  EXPECT_NE(&a, &b);
  a.Add();
  again.Add();
  b.Add(5);
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, R"(roomcast_x_total{class="a"} 2)"));
  EXPECT_TRUE(Has(text, R"(roomcast_x_total{class="b"} 5)"));
  // One family header for both series.
  EXPECT_EQ(text.find("# TYPE roomcast_x_total"),
            text.rfind("# TYPE roomcast_x_total"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m;
  m.AddCounter("roomcast_y_total", "Y", {{"path", "a\"b\\c\nd"}, {"s", "200"}})
      .Add();
  EXPECT_TRUE(
      Has(m.Render(), R"(roomcast_y_total{path="a\"b\\c\nd",s="200"} 1)"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m;
  Histogram& h = m.AddHistogram("roomcast_wait_seconds", "Waits",
                                {{"class", "actions"}}, {0.1, 0.5, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // on a bound: counts in that bucket (le)
  h.Observe(0.7);
  h.Observe(3);
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, "# TYPE roomcast_wait_seconds histogram"));
  EXPECT_TRUE(
      Has(text, R"(roomcast_wait_seconds_bucket{class="actions",le="0.1"} 2)"));
  EXPECT_TRUE(
      Has(text, R"(roomcast_wait_seconds_bucket{class="actions",le="0.5"} 2)"));
  EXPECT_TRUE(
      Has(text, R"(roomcast_wait_seconds_bucket{class="actions",le="1"} 3)"));
  EXPECT_TRUE(Has(
      text, R"(roomcast_wait_seconds_bucket{class="actions",le="+Inf"} 4)"));
  EXPECT_TRUE(Has(text, R"(roomcast_wait_seconds_sum{class="actions"} 3.85)"));
  EXPECT_TRUE(Has(text, R"(roomcast_wait_seconds_count{class="actions"} 4)"));
}

TEST(MetricsTest, HistogramWithoutLabelsHasOnlyLe) {
  Metrics m;
  m.AddHistogram("roomcast_ack_seconds", "Acks", {}, FastLatencyBuckets())
      .Observe(0.0003);
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, R"(roomcast_ack_seconds_bucket{le="0.0005"} 1)"));
  EXPECT_TRUE(Has(text, R"(roomcast_ack_seconds_bucket{le="10"} 1)"));
  EXPECT_TRUE(Has(text, "roomcast_ack_seconds_count 1"));
}

TEST(MetricsTest, CallbackSeriesAreReadAtEachRender) {
  Metrics m;
  std::atomic<int64_t> depth{4};
  std::atomic<uint64_t> written{10};
  m.AddCallbackGauge("roomcast_depth", "Depth", [&] { return depth.load(); });
  m.AddCallbackCounter("roomcast_written_total", "Written",
                       [&] { return written.load(); }, {{"log", "main"}});
  EXPECT_TRUE(Has(m.Render(), "roomcast_depth 4"));
  depth = 7;
  written = 12;
  const std::string text = m.Render();
  EXPECT_TRUE(Has(text, "roomcast_depth 7"));
  EXPECT_TRUE(Has(text, "# TYPE roomcast_written_total counter"));
  EXPECT_TRUE(Has(text, R"(roomcast_written_total{log="main"} 12)"));
}

TEST(MetricsTest, ConcurrentUpdatesAndRendersLoseNothing) {
  Metrics m;
  Counter& c = m.AddCounter("roomcast_n_total", "N");
  Histogram& h = m.AddHistogram("roomcast_t_seconds", "T", {}, {0.5});
  constexpr int kThreads = 4, kEach = 20000;
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    while (!done) {
      // Series created while rendering, as handlers do lazily.
      m.AddCounter("roomcast_lazy_total", "Lazy", {{"i", "1"}}).Add();
      EXPECT_NE(m.Render().find("roomcast_n_total"), std::string::npos);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        c.Add();
        h.Observe(i % 2 ? 0.25 : 1.0);
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  renderer.join();
  const std::string text = m.Render();
  EXPECT_TRUE(
      Has(text, "roomcast_n_total " + std::to_string(kThreads * kEach)));
  EXPECT_TRUE(Has(text, R"(roomcast_t_seconds_bucket{le="0.5"} )" +
                            std::to_string(kThreads * kEach / 2)));
  EXPECT_TRUE(Has(
      text, "roomcast_t_seconds_count " + std::to_string(kThreads * kEach)));
}

}  // namespace
}  // namespace roomcast::http
