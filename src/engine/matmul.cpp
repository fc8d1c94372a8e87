#include "engine/matmul.h"

#include <algorithm>

#include "engine/kernels.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {

namespace {

// Rows per task: a multiple of every path's row tile, small enough to balance two threads on a
// 2048-row product, large enough that handing out tasks costs nothing.
constexpr int64_t kRowsPerTask = 32;

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool) {
  if (batch <= 0 || w.rows <= 0) return;
  // Reused across calls so that decode does not allocate; each calling thread has its own.
  thread_local QuantizedActivations quantized;
  const QuantizedActivations* qa = nullptr;
  if (auto act = activation_type(w.type)) {
    prepare_activations(*act, batch, w.cols, quantized);
    if (pool != nullptr && batch > 1) {
      pool->parallel_for(batch, [&](int64_t begin, int64_t end, int) {
        quantize_activations(x, begin, end, quantized);
      });
    } else {
      quantize_activations(x, 0, batch, quantized);
    }
    qa = &quantized;
  }
  auto run = [&](int64_t begin, int64_t end, int) {
    gemm_rows(w, begin * kRowsPerTask, std::min(w.rows, end * kRowsPerTask), x, qa, 0, batch, y, w.rows);
  };
  int64_t tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  if (pool != nullptr) {
    pool->parallel_for(tasks, run);
  } else {
    run(0, tasks, 0);
  }
}

}  // namespace tokengrid::engine
