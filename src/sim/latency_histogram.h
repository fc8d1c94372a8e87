// A log-bucketed histogram of latencies (seconds) with about 2% relative resolution.
//
// Counts are doubles so histograms can be scaled and mixed (the fleet mode blends measured
// histograms by load). Quantiles return the geometric middle of the bucket that holds them;
// equal inputs in the same order always give equal results.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <cstddef>
#include <vector>

namespace tokengrid::sim {

class LatencyHistogram {
 public:
  static constexpr double kMin = 1e-4;  // 0.1 ms; smaller values land in the first bucket
  static constexpr double kGrowth = 1.02;
  static constexpr size_t kBuckets = 1100;  // up to ~3e5 s

  LatencyHistogram() : counts_(kBuckets, 0.0) {}

  void add(double seconds, double weight = 1.0) {
    counts_[bucket(seconds)] += weight;
    total_ += weight;
  }
  // Adds `other` scaled by `weight`.
  void merge(const LatencyHistogram& other, double weight = 1.0) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i] * weight;
    total_ += other.total_ * weight;
  }
  double total() const { return total_; }
  // The q-quantile (0 < q < 1), or 0 when empty.
  double quantile(double q) const {
    if (total_ <= 0) return 0;
    const double target = q * total_;
    double seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= target && counts_[i] > 0) return kMin * std::pow(kGrowth, static_cast<double>(i) + 0.5);
    }
    return kMin * std::pow(kGrowth, static_cast<double>(kBuckets) - 0.5);
  }
  // Share of the mass at or below `seconds` (bucket resolution).
  double fraction_at_most(double seconds) const {
    if (total_ <= 0) return 1;
    const size_t last = bucket(seconds);
    double seen = 0;
    for (size_t i = 0; i <= last; ++i) seen += counts_[i];
    return seen / total_;
  }
  void clear() {
    std::fill(counts_.begin(), counts_.end(), 0.0);
    total_ = 0;
  }

 private:
  // log2 from the exponent bits and a table over the top mantissa bits: exact to 0.0007, a
  // fortieth of a bucket, and several times faster than std::log (this runs once per request).
  static const std::array<double, 1024>& log2_table() {
    static const std::array<double, 1024> table = [] {
      std::array<double, 1024> t{};
      for (size_t i = 0; i < t.size(); ++i) t[i] = std::log2(1.0 + (static_cast<double>(i) + 0.5) / 1024.0);
      return t;
    }();
    return table;
  }
  static size_t bucket(double seconds) {
    if (!(seconds > kMin)) return 0;
    if (!(seconds < 1e300)) return kBuckets - 1;
    const double x = seconds / kMin;
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    const double log2x = exponent + log2_table()[(bits >> 42) & 0x3ff];
    static const double inv_log2_growth = 1.0 / std::log2(kGrowth);
    const double i = log2x * inv_log2_growth;
    return i >= static_cast<double>(kBuckets - 1) ? kBuckets - 1 : static_cast<size_t>(i);
  }
  std::vector<double> counts_;
  double total_ = 0;
};

}  // namespace tokengrid::sim
