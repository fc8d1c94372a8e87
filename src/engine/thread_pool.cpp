#include "engine/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TOKENGRID_CPU_RELAX() _mm_pause()
#else
#define TOKENGRID_CPU_RELAX() ((void)0)
#endif

namespace tokengrid::engine {

namespace {

// About 20-50 microseconds of spinning before sleeping: long enough to bridge the gap between
// two consecutive products of a forward pass, short enough not to steal a shared core.
constexpr int kSpinIterations = 1 << 13;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int t = 1; t < threads; t++) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  while (true) {
    int64_t begin = next_task_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= n_tasks_) return;
    fn_(ctx_, begin, std::min(n_tasks_, begin + grain_), thread);
  }
}

void ThreadPool::run(int64_t n_tasks, int64_t grain, TaskFn fn, void* ctx) {
  if (grain <= 0) {
    // Several chunks per thread, so a thread delayed by another process does not stall the rest.
    grain = std::max<int64_t>(1, n_tasks / (static_cast<int64_t>(threads()) * 4));
  }
  if (workers_.empty() || n_tasks <= grain) {
    fn(ctx, 0, n_tasks, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  grain_ = grain;
  next_task_.store(0, std::memory_order_relaxed);
  pending_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  work(0);
  for (int spin = 0; pending_workers_.load(std::memory_order_acquire) != 0; spin++) {
    if (spin < kSpinIterations) {
      TOKENGRID_CPU_RELAX();
    } else {
      int pending = pending_workers_.load(std::memory_order_acquire);
      if (pending != 0) pending_workers_.wait(pending, std::memory_order_acquire);
    }
  }
}

void ThreadPool::worker_loop(int thread) {
  uint32_t seen = 0;
  while (true) {
    uint32_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen && spin < kSpinIterations; spin++) {
      TOKENGRID_CPU_RELAX();
      now = generation_.load(std::memory_order_acquire);
    }
    while (now == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_relaxed)) return;
    work(thread);
    if (pending_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_workers_.notify_one();
  }
}

}  // namespace tokengrid::engine
