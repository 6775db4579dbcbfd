#include "http/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace roomcast::http {
namespace {

std::string RenderLabels(const Labels& labels, const std::string& extra = "") {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, k, "=\"",
                    absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
                    "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.size() > 1 ? "," : "", extra);
  return out + "}";
}

// Inserts `le` into an already rendered label set.
std::string WithLe(const std::string& rendered, const std::string& le) {
  const std::string le_label = absl::StrCat("le=\"", le, "\"");
  if (rendered.empty()) return absl::StrCat("{", le_label, "}");
  return absl::StrCat(rendered.substr(0, rendered.size() - 1), ",", le_label, "}");
}

void RenderHistogram(const std::string& name, const std::string& labels,
                     const Histogram& h, std::string* out) {
  std::vector<uint64_t> counts = h.Counts();
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    absl::StrAppend(out, name, "_bucket",
                    WithLe(labels, absl::StrCat(h.bounds()[i])), " ", counts[i],
                    "\n");
  }
  absl::StrAppend(out, name, "_bucket", WithLe(labels, "+Inf"), " ",
                  counts.back(), "\n", name, "_sum", labels, " ", h.sum(), "\n",
                  name, "_count", labels, " ", counts.back(), "\n");
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.resize(bounds_.size() + 1);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::max(0.0, v) * 1e6),
                        std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Counts() const {
  std::vector<uint64_t> out;
  uint64_t acc = 0;
  for (const auto& c : counts_) {
    acc += c.load(std::memory_order_relaxed);
    out.push_back(acc);
  }
  return out;
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> FastLatencyBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10};
}

Metrics::Family& Metrics::FamilyOf(const std::string& name,
                                   const std::string& help, const char* type) {
  Family& f = families_[name];
  f.help = help;
  f.type = type;
  return f;
}

Counter& Metrics::AddCounter(const std::string& name, const std::string& help,
                             const Labels& labels) {
  absl::MutexLock lock(&mu_);
  return FamilyOf(name, help, "counter").counters[RenderLabels(labels)];
}

Gauge& Metrics::AddGauge(const std::string& name, const std::string& help,
                         const Labels& labels) {
  absl::MutexLock lock(&mu_);
  return FamilyOf(name, help, "gauge").gauges[RenderLabels(labels)];
}

Histogram& Metrics::AddHistogram(const std::string& name, const std::string& help,
                                 const Labels& labels, std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  return FamilyOf(name, help, "histogram")
      .histograms.try_emplace(RenderLabels(labels), std::move(bounds))
      .first->second;
}

void Metrics::AddCallbackCounter(const std::string& name, const std::string& help,
                                 std::function<uint64_t()> read,
                                 const Labels& labels) {
  absl::MutexLock lock(&mu_);
  FamilyOf(name, help, "counter").counter_reads[RenderLabels(labels)] =
      std::move(read);
}

void Metrics::AddCallbackGauge(const std::string& name, const std::string& help,
                               std::function<int64_t()> read,
                               const Labels& labels) {
  absl::MutexLock lock(&mu_);
  FamilyOf(name, help, "gauge").gauge_reads[RenderLabels(labels)] =
      std::move(read);
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) RenderFamily(name, f, &out);
  return out;
}

void Metrics::RenderFamily(const std::string& name, const Family& f,
                           std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ",
                  f.type, "\n");
  for (const auto& [labels, c] : f.counters) {
    absl::StrAppend(out, name, labels, " ", c.value(), "\n");
  }
  for (const auto& [labels, read] : f.counter_reads) {
    absl::StrAppend(out, name, labels, " ", read(), "\n");
  }
  for (const auto& [labels, g] : f.gauges) {
    absl::StrAppend(out, name, labels, " ", g.value(), "\n");
  }
  for (const auto& [labels, read] : f.gauge_reads) {
    absl::StrAppend(out, name, labels, " ", read(), "\n");
  }
  for (const auto& [labels, h] : f.histograms) {
    RenderHistogram(name, labels, h, out);
  }
}

}  // namespace roomcast::http
