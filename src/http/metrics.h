// Metrics: a registry of counters, gauges and histograms rendered in the Prometheus text
// exposition format (version 0.0.4).
//
// Guarantees:
//   - Every metric family is registered once with a name, help text and label names; a
//     family hands out one series per distinct label value list, created on first use.
//   - All updates are thread-safe; render() sees each series at one consistent value.
//   - Histogram buckets are cumulative, end with +Inf, and _count equals the +Inf bucket.
//   - Label values are escaped (backslash, double quote, newline) as the format requires.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace tokengrid::http {

// A value that only goes up (requests served, tokens generated).
class Counter {
 public:
  void add(double amount = 1.0);
  // Raises the value to `total` when it is higher: mirrors a cumulative count kept elsewhere.
  void advance_to(double total);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (queue length, blocks in use).
class Gauge {
 public:
  void set(double value);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

// Observations sorted into fixed buckets by upper bound.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then one for +Inf
    double sum = 0.0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> bucket_counts_;  // not cumulative; the last is +Inf
  double sum_ = 0.0;
};

// Bucket bounds for latencies in seconds, from 1 ms to 60 s.
std::vector<double> latency_buckets_seconds();

enum class MetricType { kCounter, kGauge, kHistogram };

// One named metric and its series, one per label value list.
template <typename Series>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::vector<double> bounds = {})
      : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}

  // The series for these label values (as many as there are label names).
  Series& with(const std::vector<std::string>& label_values);
  // The series of a family without labels.
  Series& get() { return with({}); }

  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [labels, series] : series_) fn(labels, *series);
  }

 private:
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
};

template <typename Series>
Series& Family<Series>::with(const std::vector<std::string>& label_values) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = series_.find(label_values);
  if (it == series_.end()) {
    std::unique_ptr<Series> series;
    if constexpr (std::is_same_v<Series, Histogram>) {
      series = std::make_unique<Histogram>(bounds_);
    } else {
      series = std::make_unique<Series>();
    }
    it = series_.emplace(label_values, std::move(series)).first;
  }
  return *it->second;
}

class MetricsRegistry {
 public:
  // Registering a name twice returns the first family (its help and labels are kept).
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<double> upper_bounds,
                               std::vector<std::string> label_names = {});

  // Every family, in registration order, in the Prometheus text format.
  std::string render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    MetricType type;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
  };
  Entry* find(const std::string& name);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// The content type of render()'s output.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tokengrid::http
