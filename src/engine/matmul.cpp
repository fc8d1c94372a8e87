#include "engine/matmul.h"

#include <vector>

namespace tokengrid::engine {

namespace {

float dot_float_row(const WeightMatrix& w, int64_t r, const float* x, std::vector<float>& scratch) {
  const auto* row = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * row_bytes(w.type, w.cols);
  const float* wr;
  if (w.type == TensorType::F32) {
    wr = reinterpret_cast<const float*>(row);
  } else {
    dequantize_row(w.type, row, scratch.data(), w.cols);
    wr = scratch.data();
  }
  float sum = 0.0f;
  for (int64_t i = 0; i < w.cols; i++) sum += wr[i] * x[i];
  return sum;
}

float dot_q8_0_blocks(const WeightMatrix& w, int64_t r, const BlockQ8_0* xq) {
  const auto* row = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * row_bytes(w.type, w.cols);
  int64_t blocks = w.cols / 32;
  float sum = 0.0f;
  if (w.type == TensorType::Q8_0) {
    const auto* wb = reinterpret_cast<const BlockQ8_0*>(row);
    for (int64_t b = 0; b < blocks; b++) {
      int32_t isum = 0;
      for (int j = 0; j < 32; j++) isum += wb[b].qs[j] * xq[b].qs[j];
      sum += static_cast<float>(isum) * (fp16_to_fp32(wb[b].d) * fp16_to_fp32(xq[b].d));
    }
  } else {
    const auto* wb = reinterpret_cast<const BlockQ4_0*>(row);
    for (int64_t b = 0; b < blocks; b++) {
      int32_t isum = 0;
      for (int j = 0; j < 16; j++) {
        isum += ((wb[b].qs[j] & 0x0f) - 8) * xq[b].qs[j];
        isum += ((wb[b].qs[j] >> 4) - 8) * xq[b].qs[j + 16];
      }
      sum += static_cast<float>(isum) * (fp16_to_fp32(wb[b].d) * fp16_to_fp32(xq[b].d));
    }
  }
  return sum;
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool*) {
  if (w.type == TensorType::Q8_0 || w.type == TensorType::Q4_0) {
    std::vector<BlockQ8_0> xq(static_cast<size_t>(w.cols / 32));
    for (int64_t b = 0; b < batch; b++) {
      quantize_row(TensorType::Q8_0, x + b * w.cols, xq.data(), w.cols);
      for (int64_t r = 0; r < w.rows; r++) y[b * w.rows + r] = dot_q8_0_blocks(w, r, xq.data());
    }
    return;
  }
  std::vector<float> scratch(static_cast<size_t>(w.cols));
  for (int64_t b = 0; b < batch; b++) {
    for (int64_t r = 0; r < w.rows; r++) y[b * w.rows + r] = dot_float_row(w, r, x + b * w.cols, scratch);
  }
}

}  // namespace tokengrid::engine
