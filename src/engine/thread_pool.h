// ThreadPool: a persistent pool of worker threads made for machines with few cores.
//
// Threads are created once. A parallel region (parallel_for) wakes the workers, the calling
// thread takes part as thread 0, and the call returns after every task has run: one barrier
// per region. Idle workers spin briefly (a region usually follows the previous one within
// microseconds in a forward pass) and then sleep on a futex, so an idle pool costs no CPU.
// Tasks are handed out in contiguous chunks from a shared counter, and the caller waits only
// for workers that joined the region before it ran out of tasks: a worker that has lost its
// core to another process never holds a region up unless it holds a chunk. Which thread runs
// a task is not deterministic; callers must make each task's result independent of that.
// parallel_for must not be called from inside a task, nor from two threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace tokengrid::engine {

class ThreadPool {
 public:
  // A pool of `threads` threads in all, the caller included (so threads - 1 workers).
  // threads <= 0 picks the number of hardware threads.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(begin, end, thread) over disjoint ranges covering [0, n_tasks), where thread is in
  // [0, threads()). Ranges are at most `grain` tasks long (0: chosen from n_tasks and threads()).
  template <typename F>
  void parallel_for(int64_t n_tasks, F&& fn, int64_t grain = 0) {
    if (n_tasks <= 0) return;
    auto trampoline = [](void* ctx, int64_t begin, int64_t end, int thread) {
      (*static_cast<std::remove_reference_t<F>*>(ctx))(begin, end, thread);
    };
    run(n_tasks, grain, trampoline, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);

  void run(int64_t n_tasks, int64_t grain, TaskFn fn, void* ctx);
  void worker_loop(int thread);
  void work(int thread);

  std::vector<std::thread> workers_;
  // Region description, written by the caller before `generation_` is bumped.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  int64_t grain_ = 1;
  alignas(64) std::atomic<int64_t> next_task_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};
  // The current region: its generation (high 32 bits), whether it is closed to new workers
  // (bit 31), and how many workers are in it (low 31 bits).
  alignas(64) std::atomic<uint64_t> region_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace tokengrid::engine
