// The scalar reference path: plain loops, one output at a time, no instruction-set extensions.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/kernels_impl.h"

namespace tokengrid::engine::kernels_detail {

namespace {

void quantize_q8_0_scalar(const float* x, int64_t n, int8_t* qs, float* d, int16_t* sums) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* xb = x + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(xb[j]));
    float scale = amax / 127.0f;
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
      auto q = static_cast<int32_t>(std::nearbyint(xb[j] * inverse));
      qs[32 * b + j] = static_cast<int8_t>(q);
      sum += q;
    }
    d[b] = fp16_to_fp32(fp32_to_fp16(scale));
    sums[b] = static_cast<int16_t>(sum);
  }
}

template <typename Widen>
void gemm_float(const GemmArgs& a, Widen widen) {
  const WeightMatrix& w = *a.w;
  for (int64_t c = a.c0; c < a.c1; c++) {
    const float* x = a.x + c * w.cols;
    for (int64_t r = a.r0; r < a.r1; r++) {
      const uint8_t* row = weight_row(w, r);
      float sum = 0.0f;
      for (int64_t i = 0; i < w.cols; i++) sum += widen(row, i) * x[i];
      a.y[c * a.y_stride + r] = sum;
    }
  }
}

void gemm_f32(const GemmArgs& a) {
  gemm_float(a, [](const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; });
}
void gemm_f16(const GemmArgs& a) {
  gemm_float(a, [](const uint8_t* row, int64_t i) {
    return fp16_to_fp32(reinterpret_cast<const uint16_t*>(row)[i]);
  });
}
void gemm_bf16(const GemmArgs& a) {
  gemm_float(a, [](const uint8_t* row, int64_t i) {
    return bf16_to_fp32(reinterpret_cast<const uint16_t*>(row)[i]);
  });
}

// BlockDot(row, block, x) gives the exact integer dot product of one 32-block.
template <typename BlockDot>
void gemm_q32(const GemmArgs& a, BlockDot block_dot) {
  const WeightMatrix& w = *a.w;
  int64_t blocks = w.cols / 32;
  for (int64_t c = a.c0; c < a.c1; c++) {
    const int8_t* xq = a.qa->row_qs(c);
    const float* xd = a.qa->row_d(c);
    for (int64_t r = a.r0; r < a.r1; r++) {
      const uint8_t* row = weight_row(w, r);
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; b++) {
        auto [isum, dw] = block_dot(row, b, xq + 32 * b);
        sum += static_cast<float>(isum) * (dw * xd[b]);
      }
      a.y[c * a.y_stride + r] = sum;
    }
  }
}

struct IntDot {
  int32_t isum;
  float dw;
};

void gemm_q8_0(const GemmArgs& a) {
  gemm_q32(a, [](const uint8_t* row, int64_t b, const int8_t* x) {
    const auto& block = reinterpret_cast<const BlockQ8_0*>(row)[b];
    int32_t isum = 0;
    for (int j = 0; j < 32; j++) isum += block.qs[j] * x[j];
    return IntDot{isum, fp16_to_fp32(block.d)};
  });
}

void gemm_q4_0(const GemmArgs& a) {
  gemm_q32(a, [](const uint8_t* row, int64_t b, const int8_t* x) {
    const auto& block = reinterpret_cast<const BlockQ4_0*>(row)[b];
    int32_t isum = 0;
    for (int j = 0; j < 16; j++) {
      isum += ((block.qs[j] & 0x0f) - 8) * x[j];
      isum += ((block.qs[j] >> 4) - 8) * x[j + 16];
    }
    return IntDot{isum, fp16_to_fp32(block.d)};
  });
}

void gemm_q5_0(const GemmArgs& a) {
  gemm_q32(a, [](const uint8_t* row, int64_t b, const int8_t* x) {
    const auto& block = reinterpret_cast<const BlockQ5_0*>(row)[b];
    int32_t isum = 0;
    for (int j = 0; j < 32; j++) isum += (q5_value(block, j) - 16) * x[j];
    return IntDot{isum, fp16_to_fp32(block.d)};
  });
}

// Q5_1: (q * dw + m) . (xq * dx) = (q . xq) * (dw * dx) + sum(xq) * (m * dx), both sums in
// integers.
void gemm_q5_1(const GemmArgs& a) {
  const WeightMatrix& w = *a.w;
  const int64_t blocks = w.cols / 32;
  for (int64_t c = a.c0; c < a.c1; c++) {
    const int8_t* xq = a.qa->row_qs(c);
    const float* xd = a.qa->row_d(c);
    const int16_t* xs = a.qa->row_sums(c);
    for (int64_t r = a.r0; r < a.r1; r++) {
      const auto* row = reinterpret_cast<const BlockQ5_1*>(weight_row(w, r));
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += q5_value(row[b], j) * xq[32 * b + j];
        sum += static_cast<float>(isum) * (fp16_to_fp32(row[b].d) * xd[b]);
        sum += static_cast<float>(xs[b]) * (fp16_to_fp32(row[b].m) * xd[b]);
      }
      a.y[c * a.y_stride + r] = sum;
    }
  }
}

// Q4_K (no qh) and Q5_K: per super-block, the sub-block dot products weighted by the 6-bit
// scales and the mins times the activations' 16-value sums, both in integers.
template <typename Block>
void gemm_scale_min(const GemmArgs& a) {
  const WeightMatrix& w = *a.w;
  int64_t blocks = w.cols / 256;
  for (int64_t c = a.c0; c < a.c1; c++) {
    const int8_t* xq = a.qa->row_qs(c);
    const float* xd = a.qa->row_d(c);
    const int16_t* xs = a.qa->row_sums(c);
    for (int64_t r = a.r0; r < a.r1; r++) {
      const auto* row = reinterpret_cast<const Block*>(weight_row(w, r));
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; b++) {
        const Block& block = row[b];
        const int8_t* x = xq + 256 * b;
        int32_t scaled = 0, mins = 0;
        for (int j = 0; j < 8; j++) {
          int sc, m;
          q4_k_scale_min(block.scales, j, sc, m);
          const uint8_t* q = block.qs + 32 * (j / 2);
          int shift = 4 * (j % 2);
          int32_t isum = 0;
          for (int l = 0; l < 32; l++) {
            int high = 0;
            if constexpr (std::is_same_v<Block, BlockQ5_K>) high = ((block.qh[l] >> j) & 1) << 4;
            isum += (((q[l] >> shift) & 0x0f) | high) * x[32 * j + l];
          }
          scaled += sc * isum;
          mins += m * (xs[16 * b + 2 * j] + xs[16 * b + 2 * j + 1]);
        }
        sum += (fp16_to_fp32(block.d) * xd[b]) * static_cast<float>(scaled);
        sum -= (fp16_to_fp32(block.dmin) * xd[b]) * static_cast<float>(mins);
      }
      a.y[c * a.y_stride + r] = sum;
    }
  }
}

void gemm_q6_k(const GemmArgs& a) {
  const WeightMatrix& w = *a.w;
  int64_t blocks = w.cols / 256;
  for (int64_t c = a.c0; c < a.c1; c++) {
    const int8_t* xq = a.qa->row_qs(c);
    const float* xd = a.qa->row_d(c);
    for (int64_t r = a.r0; r < a.r1; r++) {
      const auto* row = reinterpret_cast<const BlockQ6_K*>(weight_row(w, r));
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; b++) {
        const BlockQ6_K& block = row[b];
        const int8_t* x = xq + 256 * b;
        int32_t scaled = 0;
        for (int s = 0; s < 16; s++) {
          int32_t isum = 0;
          for (int l = 0; l < 16; l++) {
            int i = 16 * s + l, half = i / 128, k = (i % 128) / 32, p = i % 32;
            uint8_t low_byte = block.ql[64 * half + p + 32 * (k & 1)];
            int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
            int high = (block.qh[32 * half + p] >> (2 * k)) & 3;
            isum += ((low | (high << 4)) - 32) * x[i];
          }
          scaled += block.scales[s] * isum;
        }
        sum += (fp16_to_fp32(block.d) * xd[b]) * static_cast<float>(scaled);
      }
      a.y[c * a.y_stride + r] = sum;
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
  return sum;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float exp_shifted_sum(float* x, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

}  // namespace

void quantize_q8_k(const float* x, int64_t n, int8_t* qs, float* d, int16_t* sums) {
  for (int64_t b = 0; b < n / 256; b++) {
    const float* xb = x + 256 * b;
    float amax = 0.0f;
    for (int j = 0; j < 256; j++) amax = std::max(amax, std::fabs(xb[j]));
    float scale = amax / 127.0f;
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    for (int s = 0; s < 16; s++) {
      int32_t sum = 0;
      for (int l = 0; l < 16; l++) {
        auto q = std::clamp(static_cast<int32_t>(std::nearbyint(xb[16 * s + l] * inverse)), -127, 127);
        qs[256 * b + 16 * s + l] = static_cast<int8_t>(q);
        sum += q;
      }
      sums[16 * b + s] = static_cast<int16_t>(sum);
    }
    d[b] = scale;
  }
}

const KernelTable& scalar_kernels() {
  static const KernelTable table{quantize_q8_0_scalar, gemm_f32, gemm_f16, gemm_bf16,
                                 gemm_q8_0, gemm_q4_0, gemm_q5_0, gemm_q5_1, gemm_scale_min<BlockQ4_K>,
                                 gemm_scale_min<BlockQ5_K>, gemm_q6_k,
                                 dot_f32,    axpy_f32,  silu_mul,  exp_shifted_sum,
                                 nullptr};
  return table;
}

}  // namespace tokengrid::engine::kernels_detail
