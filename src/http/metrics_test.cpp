#include "http/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace tokengrid::http {
namespace {

TEST(Metrics, CounterWithLabelsRendersOneLinePerSeries) {
  MetricsRegistry registry;
  auto& requests = registry.counter("t_requests_total", "Requests served.", {"endpoint", "status"});
  requests.with({"/v1/completions", "200"}).add();
  requests.with({"/v1/completions", "200"}).add(2);
  requests.with({"/v1/models", "401"}).add();
  std::string text = registry.render();
  EXPECT_NE(text.find("# HELP t_requests_total Requests served.\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE t_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("t_requests_total{endpoint=\"/v1/models\",status=\"401\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, CounterIgnoresNegativeAndNan) {
  Counter c;
  c.add(5);
  c.add(-3);
  c.add(std::nan(""));
  EXPECT_EQ(c.value(), 5);
}

TEST(Metrics, CounterAdvancesToATotalButNeverBack) {
  Counter c;
  c.advance_to(10);
  c.advance_to(4);
  EXPECT_EQ(c.value(), 10);
  c.advance_to(12.5);
  EXPECT_EQ(c.value(), 12.5);
}

TEST(Metrics, GaugeWithoutLabelsAndFractions) {
  MetricsRegistry registry;
  registry.gauge("t_ratio", "A ratio.").get().set(0.25);
  registry.gauge("t_queue", "Queue.").get().set(7);
  std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE t_ratio gauge\nt_ratio 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("t_queue 7\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndWithInf) {
  MetricsRegistry registry;
  auto& h = registry.histogram("t_latency_seconds", "Latency.", {0.1, 1.0});
  h.get().observe(0.05);
  h.get().observe(0.1);  // on the bound: le is inclusive
  h.get().observe(0.5);
  h.get().observe(3.0);
  std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE t_latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_sum 3.65\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 4\n"), std::string::npos);
}

TEST(Metrics, HistogramWithLabelsPutsLeLast) {
  MetricsRegistry registry;
  auto& h = registry.histogram("t_h", "H.", {1.0}, {"model"});
  h.with({"m"}).observe(0.5);
  std::string text = registry.render();
  EXPECT_NE(text.find("t_h_bucket{model=\"m\",le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("t_h_count{model=\"m\"} 1\n"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  registry.counter("t_c", "Help with \\ and\nnewline.", {"path"}).with({"a\"b\\c\nd"}).add();
  std::string text = registry.render();
  EXPECT_NE(text.find("# HELP t_c Help with \\\\ and\\nnewline.\n"), std::string::npos);
  EXPECT_NE(text.find("t_c{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos);
}

TEST(Metrics, RegisteringTwiceReturnsTheSameFamily) {
  MetricsRegistry registry;
  auto& a = registry.counter("t_x", "X.");
  auto& b = registry.counter("t_x", "Other help.");
  EXPECT_EQ(&a, &b);
  a.get().add();
  b.get().add();
  EXPECT_EQ(a.get().value(), 2);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  auto& c = registry.counter("t_n", "N.", {"k"});
  auto& h = registry.histogram("t_hist", "H.", latency_buckets_seconds());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.with({"v"}).add();
        h.get().observe(0.01);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.with({"v"}).value(), 40000);
  EXPECT_EQ(h.get().snapshot().count, 40000u);
}

}  // namespace
}  // namespace tokengrid::http
