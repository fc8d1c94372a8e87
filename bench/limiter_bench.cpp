// The latency a key's limit check adds to a request: reserve + settle on the LocalLimiter (one
// gateway, in memory) and on the RedisLimiter (replicas sharing a redis-server on loopback,
// started here), from one thread and from several at once, in one run; and the power
// headroom's reserve + release against Redis. Prints p50/p99 per pair of calls; asserts nothing.
//   ninja -C build limiter_bench && ./build/src/gateway/limiter_bench [--calls 20000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/redis_test_server.h"
#include "gateway/local_limiter.h"
#include "gateway/redis_headroom.h"
#include "gateway/redis_limiter.h"

using namespace tokengrid;
using namespace tokengrid::gateway;

namespace {

using Clock = std::chrono::steady_clock;

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Runs `call(thread, i)` `calls` times on each of `threads` threads; prints the latency of one call.
void measure(const char* name, int threads, int calls, const std::function<void(int, int)>& call) {
  std::vector<std::vector<double>> us(threads);
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      us[t].reserve(calls);
      for (int i = 0; i < calls; ++i) {
        const auto before = Clock::now();
        call(t, i);
        us[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
      }
    });
  }
  for (auto& th : pool) th.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : us) all.insert(all.end(), v.begin(), v.end());
  std::printf("%-44s %2d thread(s)  p50 %8.1f us  p99 %8.1f us  %9.0f pairs/s\n", name, threads, quantile(all, 0.5),
              quantile(all, 0.99), static_cast<double>(all.size()) / wall_s);
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--calls") == 0) calls = std::max(100, std::atoi(argv[i + 1]));
  auto redis = controlplane::RedisTestServer::start();
  if (!redis) {
    std::fprintf(stderr, "limiter_bench: %s\n", redis.status().message().c_str());
    return 1;
  }
  KeyEntry key;
  key.name = "bench";
  key.limits = {1e12, 1e15, 1e12, 1e12};  // never reached: every call is admitted
  const double t0 = 1767225600;
  const Consumption demand{1268, 0.36, 0.14};
  const Consumption actual{1068, 0.30, 0.12};
  const auto pair = [&](Limiter& limiter, int t, int i) {
    const double now = t0 + i * 0.003 + t * 1e-6;  // a few hundred requests a second per thread
    if (auto r = limiter.reserve(key, demand, now)) limiter.settle(*r, actual, now + 0.002);
  };
  std::printf("reserve + settle of one key's limits (requests, tokens, Wh, gCO2e); redis-server 7 on loopback\n");
  LocalLimiter local;
  measure("LocalLimiter (in memory)", 1, calls, [&](int t, int i) { pair(local, t, i); });
  measure("LocalLimiter (in memory)", 4, calls, [&](int t, int i) { pair(local, t, i); });
  http::MetricsRegistry metrics;
  SharedStoreOptions o;
  o.url = (*redis)->url();
  o.replica = "bench";
  auto store = std::move(SharedStore::open(o, metrics)).value();
  RedisLimiter shared(*store);
  measure("RedisLimiter (one Lua script per call)", 1, calls, [&](int t, int i) { pair(shared, t, i); });
  measure("RedisLimiter (one Lua script per call)", 4, calls, [&](int t, int i) { pair(shared, t, i); });
  RedisHeadroom headroom(*store);
  measure("RedisHeadroom reserve + release", 1, calls, [&](int, int) {
    if (headroom.reserve("site", 0, 1e9) == HeadroomAnswer::kGranted) headroom.release("site", 0);
  });
  return 0;
}
