#include "engine/k_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tokengrid::engine {

namespace {

// Below this a sub-block (or super-block) counts as all zero.
constexpr float kZeroMagnitude = 1e-15f;

// Round to nearest, ties to even (ggml's float trick computes the same for |v| < 2^22).
int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }

struct ScaleMin {
  float scale;  // x ~ scale * level - min
  float min;    // >= 0
};

// Levels in [0, nmax] for n values with x ~ scale * level - min, min >= 0: of the plain
// (max - min) / nmax grid and nstep + 1 stretched ones, (nmax + rmin + rdelta * i) / (max - min),
// each refitted by weighted least squares, the one of least weighted squared error.
// The float expressions keep ggml's order of operations.
ScaleMin fit_scale_min(const float* x, const float* w, int n, int nmax, float rmin, float rdelta,
                       int nstep, uint8_t* levels) {
  float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(levels, levels + n, 0);
    return {0.0f, -min};
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    levels[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float diff = scale * levels[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  for (int step = 0; step <= nstep; step++) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; i++) {
      float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::memcpy(levels, trial, static_cast<size_t>(n));
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  return {scale, -min};
}

// The shared part of Q4_K and Q5_K: levels in [0, nmax] for one super-block of 256, the
// eight 6-bit scales and mins packed as q4_k_scale_min() reads them, and the f16 d and dmin.
void quantize_scale_min_super_block(const float* x, int nmax, float rmin, int nstep, uint8_t* levels,
                                    uint8_t* packed_scales, uint16_t& d_out, uint16_t& dmin_out) {
  float scales[8], mins[8], max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; j++) {
    const float* xj = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
    const float rms = std::sqrt(sum_x2 / 32);
    float weights[32];
    for (int l = 0; l < 32; l++) weights[l] = rms + std::fabs(xj[l]);
    const ScaleMin fit = fit_scale_min(xj, weights, 32, nmax, rmin, 0.1f, nstep, levels + 32 * j);
    scales[j] = fit.scale;
    mins[j] = fit.min;
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(packed_scales, 0, 12);
  for (int j = 0; j < 8; j++) {
    // Through uint8_t as ggml stores it, then capped at 6 bits.
    const auto sc = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const auto m = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed_scales[j] |= sc;
      packed_scales[j + 4] |= m;
    } else {
      packed_scales[j + 4] = static_cast<uint8_t>((sc & 0x0f) | ((m & 0x0f) << 4));
      packed_scales[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
      packed_scales[j] |= static_cast<uint8_t>((m >> 4) << 6);
    }
  }
  d_out = fp32_to_fp16(max_scale / 63.f);
  dmin_out = fp32_to_fp16(max_min / 63.f);
  // Every value again against the scales as stored; a sub-block whose scale rounded to zero
  // keeps its fitted levels (they are multiplied by zero).
  const float d = fp16_to_fp32(d_out), dmin = fp16_to_fp32(dmin_out);
  for (int j = 0; j < 8; j++) {
    int sc, m;
    q4_k_scale_min(packed_scales, j, sc, m);
    const float step = d * static_cast<float>(sc);
    if (step == 0) continue;
    const float offset = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; l++) {
      levels[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + offset) / step), 0, nmax));
    }
  }
}

// Levels L[i] = l + nmax with l in [-nmax, nmax - 1] and x ~ scale * l: the x^2-weighted
// least-squares scale for the grid that maps the value of largest magnitude to -nmax, or for
// one of 18 grids around it if that fits better. Returns the scale (0 for an all-zero input).
float fit_symmetric_scale(const float* x, int n, int nmax, int8_t* levels) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kZeroMagnitude) {
    std::fill(levels, levels + n, 0);
    return 0.f;
  }
  auto fit = [&](float iscale, float& sum_lx, float& sum_l2, int8_t* out) {
    sum_lx = 0;
    sum_l2 = 0;
    for (int i = 0; i < n; i++) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      if (out != nullptr) out[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * l;
      sum_l2 += w * l * l;
    }
  };
  float sum_lx, sum_l2;
  fit(-static_cast<float>(nmax) / max, sum_lx, sum_l2, levels);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; step++) {
    if (step == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit(iscale, sum_lx, sum_l2, nullptr);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      fit(iscale, sum_lx, sum_l2, levels);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

void quantize_q6_k_block(const float* x, BlockQ6_K& out) {
  int8_t levels[256];
  float scales[16], max_scale = 0, max_abs_scale = 0;
  for (int s = 0; s < 16; s++) {
    scales[s] = fit_symmetric_scale(x + 16 * s, 16, 32, levels + 16 * s);
    if (std::fabs(scales[s]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[s]);
      max_scale = scales[s];
    }
  }
  if (max_abs_scale < kZeroMagnitude) {
    std::memset(&out, 0, sizeof(out));
    return;
  }
  const float iscale = -128.f / max_scale;
  out.d = fp32_to_fp16(1 / iscale);
  for (int s = 0; s < 16; s++) out.scales[s] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[s])));
  const float d = fp16_to_fp32(out.d);
  for (int s = 0; s < 16; s++) {
    const float step = d * static_cast<float>(out.scales[s]);
    if (step == 0) continue;
    for (int l = 0; l < 16; l++) {
      levels[16 * s + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * s + l] / step), -32, 31) + 32);
    }
  }
  // Per half of 128: ql holds the low 4 bits (values l and l + 64 in ql[l], l + 32 and l + 96
  // in ql[l + 32]), qh the high 2 bits of values l, l + 32, l + 64, l + 96 in qh[l].
  for (int half = 0; half < 2; half++) {
    const int8_t* h = levels + 128 * half;
    for (int l = 0; l < 32; l++) {
      out.ql[64 * half + l] = static_cast<uint8_t>((h[l] & 0x0f) | ((h[l + 64] & 0x0f) << 4));
      out.ql[64 * half + l + 32] = static_cast<uint8_t>((h[l + 32] & 0x0f) | ((h[l + 96] & 0x0f) << 4));
      out.qh[32 * half + l] = static_cast<uint8_t>((h[l] >> 4) | ((h[l + 32] >> 4) << 2) |
                                                   ((h[l + 64] >> 4) << 4) | ((h[l + 96] >> 4) << 6));
    }
  }
}

}  // namespace

void quantize_q4_k(const float* x, BlockQ4_K* out, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++, x += 256) {
    BlockQ4_K& block = out[b];
    uint8_t levels[256];
    quantize_scale_min_super_block(x, 15, -1.0f, 20, levels, block.scales, block.d, block.dmin);
    for (int pair = 0; pair < 4; pair++) {
      for (int l = 0; l < 32; l++) {
        block.qs[32 * pair + l] = static_cast<uint8_t>(levels[64 * pair + l] | (levels[64 * pair + 32 + l] << 4));
      }
    }
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* out, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++, x += 256) {
    BlockQ5_K& block = out[b];
    uint8_t levels[256];
    quantize_scale_min_super_block(x, 31, -0.5f, 15, levels, block.scales, block.d, block.dmin);
    // Low 4 bits as Q4_K's; the fifth bit of value 64p + l in bit 2p of qh[l], of value
    // 64p + 32 + l in bit 2p + 1.
    std::memset(block.qh, 0, sizeof(block.qh));
    for (int pair = 0; pair < 4; pair++) {
      for (int l = 0; l < 32; l++) {
        const int lo = levels[64 * pair + l], hi = levels[64 * pair + 32 + l];
        block.qs[32 * pair + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        block.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * pair)) | ((hi >> 4) << (2 * pair + 1)));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* out, int64_t n) {
  for (int64_t b = 0; b < n / 256; b++) quantize_q6_k_block(x + 256 * b, out[b]);
}

}  // namespace tokengrid::engine
