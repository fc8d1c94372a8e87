#include "http/metrics.h"

#include <charconv>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tokengrid::http {

void Counter::add(double amount) {
  if (!(amount > 0.0)) return;  // a counter never goes down; NaN is ignored too
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

void Counter::advance_to(double total) {
  double current = value_.load(std::memory_order_relaxed);
  while (total > current &&
         !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::set(double value) { value_.store(value, std::memory_order_relaxed); }

double Gauge::value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  std::sort(upper_bounds_.begin(), upper_bounds_.end());
  upper_bounds_.erase(std::unique(upper_bounds_.begin(), upper_bounds_.end()), upper_bounds_.end());
  bucket_counts_.assign(upper_bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  size_t bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                  upper_bounds_.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++bucket_counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t running = 0;
  for (uint64_t c : bucket_counts_) {
    running += c;
    s.cumulative_counts.push_back(running);
  }
  s.sum = sum_;
  s.count = running;
  return s;
}

std::vector<double> latency_buckets_seconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
          0.75,  1.0,    2.5,   5.0,  7.5,   10.0, 20.0,  30.0, 60.0};
}

MetricsRegistry::Entry* MetricsRegistry::find(const std::string& name) {
  for (auto& e : entries_) {
    if (e->name == name) return e.get();
  }
  return nullptr;
}

Family<Counter>& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name); e && e->counters) return *e->counters;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = MetricType::kCounter;
  e->counters = std::make_unique<Family<Counter>>(std::move(label_names));
  entries_.push_back(std::move(e));
  return *entries_.back()->counters;
}

Family<Gauge>& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name); e && e->gauges) return *e->gauges;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = MetricType::kGauge;
  e->gauges = std::make_unique<Family<Gauge>>(std::move(label_names));
  entries_.push_back(std::move(e));
  return *entries_.back()->gauges;
}

Family<Histogram>& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                              std::vector<double> upper_bounds,
                                              std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Entry* e = find(name); e && e->histograms) return *e->histograms;
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = MetricType::kHistogram;
  e->histograms =
      std::make_unique<Family<Histogram>>(std::move(label_names), std::move(upper_bounds));
  entries_.push_back(std::move(e));
  return *entries_.back()->histograms;
}

namespace {

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest text that reads back as the same double: a counter mirrored elsewhere (the
  // usage ledger) sums to exactly what the ledger holds.
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

// {a="x",b="y"} with an optional extra label appended; empty when there are no labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  size_t n = std::min(names.size(), values.size());
  for (size_t i = 0; i < n; ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!out.empty()) out += ',';
    out += extra_name + "=\"" + escape_label_value(extra_value) + "\"";
  }
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

std::string MetricsRegistry::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& e : entries_) {
    out += "# HELP " + e->name + " " + escape_help(e->help) + "\n";
    switch (e->type) {
      case MetricType::kCounter:
        out += "# TYPE " + e->name + " counter\n";
        e->counters->for_each([&](const std::vector<std::string>& labels, const Counter& c) {
          out += e->name + label_set(e->counters->label_names(), labels) + " " +
                 format_number(c.value()) + "\n";
        });
        break;
      case MetricType::kGauge:
        out += "# TYPE " + e->name + " gauge\n";
        e->gauges->for_each([&](const std::vector<std::string>& labels, const Gauge& g) {
          out += e->name + label_set(e->gauges->label_names(), labels) + " " +
                 format_number(g.value()) + "\n";
        });
        break;
      case MetricType::kHistogram:
        out += "# TYPE " + e->name + " histogram\n";
        e->histograms->for_each([&](const std::vector<std::string>& labels, const Histogram& h) {
          const auto& names = e->histograms->label_names();
          Histogram::Snapshot s = h.snapshot();
          for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
            out += e->name + "_bucket" +
                   label_set(names, labels, "le", format_number(s.upper_bounds[i])) + " " +
                   std::to_string(s.cumulative_counts[i]) + "\n";
          }
          out += e->name + "_bucket" + label_set(names, labels, "le", "+Inf") + " " +
                 std::to_string(s.count) + "\n";
          out += e->name + "_sum" + label_set(names, labels) + " " + format_number(s.sum) + "\n";
          out += e->name + "_count" + label_set(names, labels) + " " + std::to_string(s.count) +
                 "\n";
        });
        break;
    }
  }
  return out;
}

}  // namespace tokengrid::http
