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

constexpr uint64_t kClosed = uint64_t{1} << 31;
constexpr uint64_t kWorkers = kClosed - 1;

uint64_t region_word(uint32_t generation) { return static_cast<uint64_t>(generation) << 32; }

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
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  region_.store(region_word(generation), std::memory_order_relaxed);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  work(0);
  // No task is left to hand out: close the region, then wait for the workers inside it.
  uint64_t state = region_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
  for (int spin = 0; (state & kWorkers) != 0; spin++) {
    if (spin < kSpinIterations) {
      TOKENGRID_CPU_RELAX();
    } else {
      region_.wait(state, std::memory_order_acquire);
    }
    state = region_.load(std::memory_order_acquire);
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
    // Join the region unless the caller has closed it (or a later one has begun).
    uint64_t state = region_.load(std::memory_order_acquire);
    bool joined = false;
    while (state == (region_word(now) | (state & kWorkers))) {
      if (region_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    work(thread);
    if (region_.fetch_sub(1, std::memory_order_acq_rel) == (region_word(now) | kClosed | 1)) {
      region_.notify_one();
    }
  }
}

}  // namespace tokengrid::engine
