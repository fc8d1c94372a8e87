#include "engine/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

namespace tokengrid::engine {
namespace {

TEST(ThreadPoolTest, EveryTaskRunsExactlyOnceAcrossManyRegions) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int64_t n : {0, 1, 2, 3, 7, 64, 1000, 12345}) {
    for (int region = 0; region < 20; region++) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<bool> bad_thread{false};
      pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
        if (thread < 0 || thread >= pool.threads() || begin >= end) bad_thread = true;
        for (int64_t i = begin; i < end; i++) hits[static_cast<size_t>(i)]++;
      });
      EXPECT_FALSE(bad_thread);
      for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "n " << n;
    }
  }
}

TEST(ThreadPoolTest, GrainBoundsTheRanges) {
  ThreadPool pool(2);
  std::atomic<int64_t> max_len{0}, total{0};
  for (int region = 0; region < 50; region++) {
    pool.parallel_for(
        400,
        [&](int64_t begin, int64_t end, int) {
          int64_t len = end - begin, seen = max_len.load();
          while (len > seen && !max_len.compare_exchange_weak(seen, len)) {
          }
          total += len;
        },
        4);
  }
  EXPECT_LE(max_len.load(), 4);
  EXPECT_EQ(total.load(), 400 * 50);
}

// Task 0 waits for task 1 to start, so the thread that took task 0 cannot take task 1: this
// passes only if a second thread runs tasks at the same time.
TEST(ThreadPoolTest, WorkersRunTasksConcurrentlyWithTheCaller) {
  ThreadPool pool(2);
  for (int region = 0; region < 5; region++) {
    std::atomic<bool> second_started{false}, saw_second{false};
    pool.parallel_for(
        2,
        [&](int64_t begin, int64_t, int) {
          if (begin == 1) {
            second_started = true;
            return;
          }
          auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!second_started && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          saw_second = second_started.load();
        },
        1);
    EXPECT_TRUE(saw_second);
  }
}

TEST(ThreadPoolTest, SingleThreadPoolRunsOnTheCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.threads(), 1);
  int64_t total = 0;
  pool.parallel_for(100, [&](int64_t begin, int64_t end, int thread) {
    EXPECT_EQ(thread, 0);
    total += end - begin;
  });
  EXPECT_EQ(total, 100);
}

TEST(ThreadPoolTest, IdlePoolSleepsAndWakesAgain) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(10, [&](int64_t b, int64_t e, int) { total += e - b; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spinning phase
  pool.parallel_for(10, [&](int64_t b, int64_t e, int) { total += e - b; });
  EXPECT_EQ(total.load(), 20);
}

}  // namespace
}  // namespace tokengrid::engine
