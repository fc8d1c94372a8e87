#include "engine/matmul.h"

#include <algorithm>
#include <vector>

#include "engine/kernels.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {

namespace {

// Rows per task: a multiple of every path's row tile (and of four of the packed layout's
// 16-row groups), small enough to balance two threads on a 2048-row product, large enough that
// handing out tasks costs nothing.
constexpr int64_t kRowsPerTask = 64;

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool) {
  float* ys[] = {y};
  matmul_group(std::span<const WeightMatrix>(&w, 1), x, batch, ys, pool);
}

void matmul_group(std::span<const WeightMatrix> ws, const float* x, int64_t batch,
                  std::span<float* const> ys, ThreadPool* pool) {
  if (batch <= 0 || ws.empty()) return;
  // Reused across calls so that decode does not allocate; each calling thread has its own.
  // Tasks run on other threads too: they must reach these through pointers taken here, since
  // naming a thread_local inside a task would name that thread's own (empty) copy.
  thread_local QuantizedActivations local_q8_0, local_q8_k;
  QuantizedActivations* quantized_q8_0 = &local_q8_0;
  QuantizedActivations* quantized_q8_k = &local_q8_k;
  std::vector<TensorType> formats;
  for (const WeightMatrix& w : ws) {
    auto act = activation_type(w.type);
    if (act && std::find(formats.begin(), formats.end(), *act) == formats.end()) formats.push_back(*act);
  }
  for (TensorType format : formats) {
    QuantizedActivations& q = format == TensorType::Q8_0 ? *quantized_q8_0 : *quantized_q8_k;
    prepare_activations(format, batch, ws[0].cols, q);
    if (pool != nullptr && batch > 1) {
      pool->parallel_for(batch, [&](int64_t begin, int64_t end, int) { quantize_activations(x, begin, end, q); });
    } else {
      quantize_activations(x, 0, batch, q);
    }
  }
  // Tasks are the concatenation of every matrix's row chunks.
  std::vector<int64_t> first_task(ws.size() + 1, 0);
  for (size_t i = 0; i < ws.size(); i++) {
    first_task[i + 1] = first_task[i] + (ws[i].rows + kRowsPerTask - 1) / kRowsPerTask;
  }
  auto run = [&](int64_t begin, int64_t end, int) {
    size_t i = 0;
    for (int64_t t = begin; t < end; t++) {
      while (t >= first_task[i + 1]) i++;
      const WeightMatrix& w = ws[i];
      auto act = activation_type(w.type);
      const QuantizedActivations* qa =
          !act ? nullptr : (*act == TensorType::Q8_0 ? quantized_q8_0 : quantized_q8_k);
      int64_t r0 = (t - first_task[i]) * kRowsPerTask;
      gemm_rows(w, r0, std::min(w.rows, r0 + kRowsPerTask), x, qa, 0, batch, ys[i], w.rows);
    }
  };
  if (pool != nullptr) {
    // Small grabs: on a shared machine a thread can lose its core mid-product, and whatever it
    // has grabbed but not started waits for it.
    const int64_t grain = std::max<int64_t>(1, first_task.back() / (16 * pool->threads()));
    pool->parallel_for(first_task.back(), run, grain);
  } else {
    run(0, first_task.back(), 0);
  }
}

}  // namespace tokengrid::engine
