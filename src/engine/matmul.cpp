#include "engine/matmul.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "engine/kernels.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {

namespace {

// Rows per task: a multiple of every path's row tile (and of four of the packed layout's
// 16-row groups), small enough to balance two threads on a 2048-row product, large enough that
// handing out tasks costs nothing. Parts of a product are cut into the same tasks as the whole,
// so each value is computed by the same call either way.
constexpr int64_t kRowsPerTask = kMatmulRowTile;

// The activations of a product, quantized once for every matrix type that needs them.
struct Activations {
  const float* x;
  QuantizedActivations* q8_0;
  QuantizedActivations* q8_k;
  const QuantizedActivations* of(const WeightMatrix& w) const {
    auto act = activation_type(w.type);
    return !act ? nullptr : (*act == TensorType::Q8_0 ? q8_0 : q8_k);
  }
};

// Reused across calls so that decode does not allocate; each calling thread has its own.
// Tasks run on other threads too: they must reach these through pointers taken here, since
// naming a thread_local inside a task would name that thread's own (empty) copy.
Activations quantize(std::span<const WeightMatrix> ws, const float* x, int64_t batch, ThreadPool* pool) {
  thread_local QuantizedActivations local_q8_0, local_q8_k;
  Activations a{x, &local_q8_0, &local_q8_k};
  std::vector<TensorType> formats;
  for (const WeightMatrix& w : ws) {
    auto act = activation_type(w.type);
    if (act && std::find(formats.begin(), formats.end(), *act) == formats.end()) formats.push_back(*act);
  }
  for (TensorType format : formats) {
    QuantizedActivations& q = format == TensorType::Q8_0 ? *a.q8_0 : *a.q8_k;
    prepare_activations(format, batch, ws[0].cols, q);
    if (pool != nullptr && batch > 1) {
      pool->parallel_for(batch, [&](int64_t begin, int64_t end, int) { quantize_activations(x, begin, end, q); });
    } else {
      quantize_activations(x, 0, batch, q);
    }
  }
  return a;
}

// Rows [r0, r1) of every matrix (clipped to its own rows) times the quantized activations.
void run_rows(std::span<const WeightMatrix> ws, const Activations& a, int64_t batch, std::span<float* const> ys,
              int64_t r0, int64_t r1, ThreadPool* pool) {
  // Tasks are the concatenation of every matrix's row chunks.
  std::vector<int64_t> first_task(ws.size() + 1, 0);
  for (size_t i = 0; i < ws.size(); i++) {
    const int64_t rows = std::max<int64_t>(0, std::min(r1, ws[i].rows) - r0);
    first_task[i + 1] = first_task[i] + (rows + kRowsPerTask - 1) / kRowsPerTask;
  }
  auto run = [&](int64_t begin, int64_t end, int) {
    size_t i = 0;
    for (int64_t t = begin; t < end; t++) {
      while (t >= first_task[i + 1]) i++;
      const WeightMatrix& w = ws[i];
      const int64_t first = r0 + (t - first_task[i]) * kRowsPerTask;
      gemm_rows(w, first, std::min({w.rows, r1, first + kRowsPerTask}), a.x, a.of(w), 0, batch, ys[i], w.rows);
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

int64_t most_rows(std::span<const WeightMatrix> ws) {
  int64_t rows = 0;
  for (const WeightMatrix& w : ws) rows = std::max(rows, w.rows);
  return rows;
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool) {
  float* ys[] = {y};
  matmul_group(std::span<const WeightMatrix>(&w, 1), x, batch, ys, pool);
}

void matmul_group(std::span<const WeightMatrix> ws, const float* x, int64_t batch,
                  std::span<float* const> ys, ThreadPool* pool) {
  if (batch <= 0 || ws.empty()) return;
  run_rows(ws, quantize(ws, x, batch, pool), batch, ys, 0, most_rows(ws), pool);
}

void matmul_group_in_parts(std::span<const WeightMatrix> ws, const float* x, int64_t batch,
                           std::span<float* const> ys, int64_t part_rows,
                           const std::function<int64_t(int64_t)>& between, ThreadPool* pool) {
  if (batch <= 0 || ws.empty()) return;
  Activations a = quantize(ws, x, batch, pool);
  const int64_t rows = most_rows(ws);
  for (int64_t r0 = 0; r0 < rows; r0 += part_rows) {
    if (r0 > 0) {
      const int64_t rest = between(batch);
      if (rest <= 0) return;
      // The kept items moved to the front of x: their quantized rows are made again.
      if (rest != batch) a = quantize(ws, x, rest, pool);
      batch = rest;
    }
    run_rows(ws, a, batch, ys, r0, std::min(rows, r0 + part_rows), pool);
  }
}

}  // namespace tokengrid::engine
