#include "engine/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/matmul.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {
namespace {

const TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0,
                                TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K,
                                TensorType::Q6_K};

std::vector<KernelPath> supported_paths() {
  std::vector<KernelPath> paths;
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (kernel_path_supported(p)) paths.push_back(p);
  }
  return paths;
}

// Restores the process's kernel path when a test that forces one ends.
class PathGuard {
 public:
  PathGuard() : saved_(active_kernel_path()) {}
  ~PathGuard() { set_kernel_path(saved_); }

 private:
  KernelPath saved_;
};

int64_t block_of(TensorType t) { return type_traits(static_cast<uint32_t>(t))->block_size; }

// An odd number of columns the type allows: not a multiple of any SIMD width for float types.
int64_t odd_cols(TensorType t) { return block_of(t) == 1 ? 75 : block_of(t) * 3; }

struct Weights {
  WeightMatrix matrix;
  std::vector<uint8_t> bytes;
  std::vector<float> dequantized;  // row-major rows x cols
};

Weights random_weights(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Weights w;
  w.bytes.resize(row_bytes(type, cols) * static_cast<size_t>(rows));
  w.dequantized.resize(static_cast<size_t>(rows * cols));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    for (auto& v : row) v = dist(rng);
    uint8_t* dst = w.bytes.data() + row_bytes(type, cols) * static_cast<size_t>(r);
    quantize_row(type, row.data(), dst, cols);
    dequantize_row(type, dst, w.dequantized.data() + r * cols, cols);
  }
  w.matrix = {type, rows, cols, w.bytes.data()};
  return w;
}

// The matrix as given and, for types that have one, in the packed layout.
struct Layout {
  std::string name;
  WeightMatrix matrix;
};
std::vector<Layout> layouts(const WeightMatrix& w, HugePageBytes& packed_storage) {
  std::vector<Layout> out{{"plain", w}};
  packed_storage = pack_weights(w);
  if (!packed_storage.empty()) {
    WeightMatrix packed = w;
    packed.packed = packed_storage.data();
    out.push_back({"packed", packed});
  }
  return out;
}

std::vector<float> random_activations(int64_t batch, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch * cols));
  for (auto& v : x) v = dist(rng);
  return x;
}

std::vector<float> product(KernelPath path, const WeightMatrix& w, const std::vector<float>& x,
                           int64_t batch, ThreadPool* pool = nullptr) {
  PathGuard guard;
  EXPECT_TRUE(set_kernel_path(path));
  std::vector<float> y(static_cast<size_t>(batch * w.rows), std::nanf(""));
  matmul(w, x.data(), batch, y.data(), pool);
  return y;
}

TEST(KernelsTest, PathNamesParseAndScalarIsAlwaysThere) {
  EXPECT_EQ(parse_kernel_path("AVX512"), KernelPath::kAvx512);
  EXPECT_EQ(parse_kernel_path("scalar"), KernelPath::kScalar);
  EXPECT_FALSE(parse_kernel_path("neon"));
  EXPECT_TRUE(kernel_path_supported(KernelPath::kScalar));
  EXPECT_TRUE(kernel_path_supported(active_kernel_path()));
}

TEST(KernelsTest, ActivationQuantizationIsIdenticalOnEveryPath) {
  const int64_t batch = 3, cols = 32 * 9;
  auto x = random_activations(batch, cols, 7);
  x[5] = 0.5f * 127.0f / 3.0f;  // ties and zero blocks are where rounding rules show
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);
  QuantizedActivations reference;
  {
    PathGuard guard;
    set_kernel_path(KernelPath::kScalar);
    prepare_activations(TensorType::Q8_0, batch, cols, reference);
    quantize_activations(x.data(), 0, batch, reference);
  }
  for (KernelPath path : supported_paths()) {
    PathGuard guard;
    set_kernel_path(path);
    QuantizedActivations q;
    prepare_activations(TensorType::Q8_0, batch, cols, q);
    quantize_activations(x.data(), 0, batch, q);
    EXPECT_EQ(q.qs, reference.qs) << kernel_path_name(path);
    EXPECT_EQ(q.d, reference.d) << kernel_path_name(path);
    EXPECT_EQ(q.sums, reference.sums) << kernel_path_name(path);
  }
  // The scale is f16-rounded, the values are within one step of x / d, the sums add up.
  for (int64_t b = 0; b < batch * cols / 32; b++) {
    EXPECT_EQ(reference.d[b], fp16_to_fp32(fp32_to_fp16(reference.d[b])));
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) sum += reference.qs[32 * b + j];
    EXPECT_EQ(sum, reference.sums[b]);
  }
}

// Every path against the scalar reference and a float64 reference on the dequantized weights,
// over odd row counts and every batch size from 1 to 17.
TEST(KernelsTest, EveryPathMatchesTheScalarReference) {
  const int64_t rows = 37;
  for (TensorType type : kAllTypes) {
    const int64_t cols = odd_cols(type);
    Weights w = random_weights(type, rows, cols, 11);
    HugePageBytes packed;
    for (int64_t batch = 1; batch <= 17; batch++) {
      auto x = random_activations(batch, cols, static_cast<uint32_t>(100 + batch));
      auto reference = product(KernelPath::kScalar, w.matrix, x, batch);
      for (KernelPath path : supported_paths()) {
       for (const Layout& layout : layouts(w.matrix, packed)) {
        auto y = product(path, layout.matrix, x, batch);
        for (int64_t c = 0; c < batch; c++) {
          for (int64_t r = 0; r < rows; r++) {
            double exact = 0.0, magnitude = 0.0;
            for (int64_t i = 0; i < cols; i++) {
              double p = static_cast<double>(w.dequantized[r * cols + i]) * x[c * cols + i];
              exact += p;
              magnitude += std::fabs(p);
            }
            size_t k = static_cast<size_t>(c * rows + r);
            // Paths differ only in float summation order: a few ulps of the magnitude.
            EXPECT_NEAR(y[k], reference[k], 1e-5 * magnitude + 1e-6)
                << type_name(static_cast<uint32_t>(type)) << " " << kernel_path_name(path) << " "
                << layout.name << " batch " << batch << " row " << r << " col " << c;
            // Against float64: float types exactly as above; 8-bit activations add their error.
            double tolerance = activation_type(type) ? 0.02 * magnitude : 1e-5 * magnitude;
            EXPECT_NEAR(y[k], exact, tolerance + 1e-6)
                << type_name(static_cast<uint32_t>(type)) << " " << kernel_path_name(path);
          }
        }
       }
      }
    }
  }
}

// With unit scales, integer activations and sums below 2^24, every float step is exact, so each
// path must give the exact integer dot product.
TEST(KernelsTest, IntegerDotProductsAreExactOnEveryPath) {
  std::mt19937 rng(5);
  const int64_t rows = 13, batch = 5;
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0, TensorType::Q5_1,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const int64_t cols = block_of(type) == 32 ? 32 * 9 : 256 * 3;
    const int64_t act_block = block_of(type) == 32 ? 32 : 256;
    // Activations: integers with one +-127 per activation block, so the block scale is exactly 1.
    std::vector<float> x(static_cast<size_t>(batch * cols));
    std::uniform_int_distribution<int> small(-20, 20);
    for (size_t i = 0; i < x.size(); i++) x[i] = static_cast<float>(small(rng));
    for (size_t i = 0; i < x.size(); i += static_cast<size_t>(act_block)) x[i + 3] = (i / act_block) % 2 ? 127.0f : -127.0f;

    std::vector<uint8_t> bytes(row_bytes(type, cols) * rows);
    std::uniform_int_distribution<int> byte(0, 255), tiny(0, 3), signed_tiny(-3, 3);
    for (auto& b : bytes) b = static_cast<uint8_t>(byte(rng));
    const uint16_t one = fp32_to_fp16(1.0f);
    for (int64_t r = 0; r < rows; r++) {
      uint8_t* row = bytes.data() + row_bytes(type, cols) * r;
      for (int64_t b = 0; b < cols / block_of(type); b++) {
        if (type == TensorType::Q8_0) std::memcpy(row + 34 * b, &one, 2);
        if (type == TensorType::Q4_0) std::memcpy(row + 18 * b, &one, 2);
        if (type == TensorType::Q5_0) std::memcpy(row + 22 * b, &one, 2);
        if (type == TensorType::Q5_1) {
          // d = 1 and a small integer offset m, so every float step stays exact.
          const uint16_t m = fp32_to_fp16(static_cast<float>(signed_tiny(rng) - 16));
          std::memcpy(row + 24 * b, &one, 2);
          std::memcpy(row + 24 * b + 2, &m, 2);
        }
        if (type == TensorType::Q4_K || type == TensorType::Q5_K) {
          // d, dmin and scales sit at the same offsets in both.
          auto* block = reinterpret_cast<BlockQ4_K*>(row + row_bytes(type, 256) * b);
          block->d = one;
          block->dmin = one;
          for (int j = 0; j < 12; j++) block->scales[j] = static_cast<uint8_t>(tiny(rng) | (tiny(rng) << 4));
          for (int j = 0; j < 8; j++) block->scales[j] &= 0x33;  // 6-bit fields stay small
        }
        if (type == TensorType::Q6_K) {
          auto* block = reinterpret_cast<BlockQ6_K*>(row) + b;
          block->d = one;
          for (auto& s : block->scales) s = static_cast<int8_t>(signed_tiny(rng));
        }
      }
    }
    WeightMatrix w{type, rows, cols, bytes.data()};
    std::vector<float> dequantized(static_cast<size_t>(cols));
    HugePageBytes packed;
    for (KernelPath path : supported_paths()) {
     for (const Layout& layout : layouts(w, packed)) {
      auto y = product(path, layout.matrix, x, batch);
      for (int64_t r = 0; r < rows; r++) {
        dequantize_row(type, bytes.data() + row_bytes(type, cols) * r, dequantized.data(), cols);
        for (int64_t c = 0; c < batch; c++) {
          double exact = 0.0;
          for (int64_t i = 0; i < cols; i++) exact += static_cast<double>(dequantized[i]) * x[c * cols + i];
          ASSERT_LT(std::fabs(exact), 1 << 24);
          EXPECT_EQ(y[c * rows + r], static_cast<float>(exact))
              << type_name(static_cast<uint32_t>(type)) << " " << kernel_path_name(path) << " "
              << layout.name << " row " << r;
        }
      }
     }
    }
  }
}

// A row's result is bit-identical whatever the batch size, its place in the batch, and the
// number of threads.
TEST(KernelsTest, ProductsAreBatchInvariantOnEveryPath) {
  const int64_t rows = 71;
  ThreadPool pool(3);
  for (TensorType type : kAllTypes) {
    const int64_t cols = odd_cols(type);
    Weights w = random_weights(type, rows, cols, 21);
    const int64_t batch = 17;
    auto x = random_activations(batch, cols, 33);
    HugePageBytes packed;
    for (KernelPath path : supported_paths()) {
     for (const Layout& layout : layouts(w.matrix, packed)) {
      const WeightMatrix& m = layout.matrix;
      auto full = product(path, m, x, batch);
      auto threaded = product(path, m, x, batch, &pool);
      EXPECT_EQ(0, std::memcmp(full.data(), threaded.data(), full.size() * sizeof(float)));
      for (int64_t c = 0; c < batch; c++) {
        std::vector<float> alone_x(x.begin() + c * cols, x.begin() + (c + 1) * cols);
        auto alone = product(path, m, alone_x, 1);
        // Also as the last of a batch of c + 1 rows starting at row 0.
        std::vector<float> prefix_x(x.begin(), x.begin() + (c + 1) * cols);
        auto prefix = product(path, m, prefix_x, c + 1);
        EXPECT_EQ(0, std::memcmp(alone.data(), full.data() + c * rows, rows * sizeof(float)))
            << type_name(static_cast<uint32_t>(type)) << " " << kernel_path_name(path) << " "
            << layout.name << " col " << c;
        EXPECT_EQ(0, std::memcmp(prefix.data() + c * rows, full.data() + c * rows, rows * sizeof(float)))
            << type_name(static_cast<uint32_t>(type)) << " " << kernel_path_name(path) << " "
            << layout.name << " col " << c;
      }
     }
    }
  }
}

TEST(KernelsTest, VectorOperationsMatchFloat64OnEveryPath) {
  for (int64_t n : {1, 7, 16, 33, 64, 100}) {
    auto a = random_activations(1, n, 1), b = random_activations(1, n, 2);
    double exact = 0.0, magnitude = 0.0;
    for (int64_t i = 0; i < n; i++) {
      exact += static_cast<double>(a[i]) * b[i];
      magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    for (KernelPath path : supported_paths()) {
      PathGuard guard;
      set_kernel_path(path);
      EXPECT_NEAR(dot_f32(a.data(), b.data(), n), exact, 1e-6 * magnitude + 1e-7) << kernel_path_name(path) << " " << n;
      std::vector<float> y = b;
      axpy_f32(0.5f, a.data(), y.data(), n);
      for (int64_t i = 0; i < n; i++) EXPECT_NEAR(y[i], b[i] + 0.5 * a[i], 1e-6) << kernel_path_name(path);
    }
  }
}

TEST(KernelsTest, SiluAndExpMatchFloat64OnEveryPath) {
  for (int64_t n : {1, 5, 8, 29, 100}) {
    auto g = random_activations(1, n, 3), u = random_activations(1, n, 4);
    for (int64_t i = 0; i < n; i++) g[i] *= 8.0f;  // into exp's steep range, both signs
    if (n == 100) g[7] = -200.0f, g[8] = 200.0f;   // clamped ends stay finite
    for (KernelPath path : supported_paths()) {
      PathGuard guard;
      set_kernel_path(path);
      std::vector<float> out = g;
      silu_mul(out.data(), u.data(), n);
      for (int64_t i = 0; i < n; i++) {
        double expected = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
        EXPECT_NEAR(out[i], expected, 1e-6 * std::fabs(expected) + 1e-30) << kernel_path_name(path) << " " << g[i];
      }
      std::vector<float> e = g;
      float shift = *std::max_element(g.begin(), g.end());  // as softmax uses it: x - shift <= 0
      float sum = exp_shifted_sum(e.data(), n, shift);
      double expected_sum = 0.0;
      for (int64_t i = 0; i < n; i++) {
        double expected = std::exp(static_cast<double>(g[i] - shift));  // the float difference
        if (g[i] - shift > -80.0f) {
          EXPECT_NEAR(e[i], expected, 1e-6 * expected) << kernel_path_name(path) << " " << g[i];
        }
        expected_sum += e[i];
      }
      EXPECT_NEAR(sum, expected_sum, 1e-5 * expected_sum) << kernel_path_name(path);
    }
  }
}

TEST(KernelsTest, GeluTanhMulMatchesFloat64) {
  const int64_t n = 300;
  std::vector<float> g(n), u(n);
  for (int64_t i = 0; i < n; i++) {
    g[i] = -12.0f + 24.0f * static_cast<float>(i) / n;
    u[i] = 0.5f + 0.01f * static_cast<float>(i);
  }
  std::vector<float> out = g;
  gelu_tanh_mul(out.data(), u.data(), n);
  for (int64_t i = 0; i < n; i++) {
    const double x = g[i];
    const double expected = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))) * u[i];
    EXPECT_NEAR(out[i], expected, 1e-6 * std::fabs(expected) + 1e-7) << g[i];
  }
}

// Soft-capping (Gemma 2) included: every path caps the scores before the softmax.
TEST(KernelsTest, AttentionMatchesFloat64AndEachHeadIsIndependent) {
  for (int head_dim : {8, 64, 128, 256}) {
    for (int n_pos : {1, 2, 17, 40}) {
    for (float softcap : {0.0f, 1.5f}) {
      const int n_q = 5;
      auto q = random_activations(n_q, head_dim, 1);
      auto k = random_activations(n_pos, head_dim, 2), v = random_activations(n_pos, head_dim, 3);
      std::vector<const float*> keys, values;
      for (int t = 0; t < n_pos; t++) {
        keys.push_back(&k[t * head_dim]);
        values.push_back(&v[t * head_dim]);
      }
      const float scale = 0.3f;
      for (KernelPath path : supported_paths()) {
        PathGuard guard;
        set_kernel_path(path);
        std::vector<float> scores(static_cast<size_t>(n_q * n_pos)), out(static_cast<size_t>(n_q * head_dim));
        attention(q.data(), n_q, head_dim, scale, softcap, keys.data(), values.data(), n_pos, scores.data(),
                  out.data());
        for (int h = 0; h < n_q; h++) {
          std::vector<double> p(n_pos);
          double max_s = -1e300, sum = 0.0;
          for (int t = 0; t < n_pos; t++) {
            double d = 0.0;
            for (int i = 0; i < head_dim; i++) d += static_cast<double>(q[h * head_dim + i]) * k[t * head_dim + i];
            p[t] = softcap > 0.0f ? softcap * std::tanh(d * scale / softcap) : d * scale;
            max_s = std::max(max_s, p[t]);
          }
          for (auto& x : p) sum += (x = std::exp(x - max_s));
          for (int i = 0; i < head_dim; i++) {
            double expected = 0.0;
            for (int t = 0; t < n_pos; t++) expected += p[t] / sum * v[t * head_dim + i];
            EXPECT_NEAR(out[h * head_dim + i], expected, 1e-5) << kernel_path_name(path) << " hd " << head_dim;
          }
          // The same head alone gives the same bits.
          std::vector<float> alone(static_cast<size_t>(head_dim));
          attention(&q[h * head_dim], 1, head_dim, scale, softcap, keys.data(), values.data(), n_pos,
                    scores.data(), alone.data());
          EXPECT_EQ(0, std::memcmp(alone.data(), &out[h * head_dim], head_dim * sizeof(float)))
              << kernel_path_name(path) << " hd " << head_dim << " head " << h;
        }
      }
    }
    }
  }
}

TEST(KernelsTest, GroupedProductsEqualSeparateProducts) {
  const int64_t cols = 512, batch = 6;
  Weights a = random_weights(TensorType::Q4_0, 70, cols, 1);
  Weights b = random_weights(TensorType::Q4_K, 33, cols, 2);
  Weights c = random_weights(TensorType::F16, 9, cols, 3);
  auto packed = pack_weights(a.matrix);
  a.matrix.packed = packed.data();
  auto x = random_activations(batch, cols, 4);
  ThreadPool pool(2);
  const WeightMatrix ws[] = {a.matrix, b.matrix, c.matrix};
  std::vector<std::vector<float>> grouped(3), separate(3);
  for (int i = 0; i < 3; i++) {
    grouped[i].assign(static_cast<size_t>(ws[i].rows * batch), 0.0f);
    separate[i].assign(grouped[i].size(), 1.0f);
    matmul(ws[i], x.data(), batch, separate[i].data());
  }
  float* ys[] = {grouped[0].data(), grouped[1].data(), grouped[2].data()};
  matmul_group(ws, x.data(), batch, ys, &pool);
  for (int i = 0; i < 3; i++) EXPECT_EQ(grouped[i], separate[i]) << i;
}

TEST(KernelsTest, PackedLayoutPlacesEachRowInItsLane) {
  // 17 rows: a second group with one real row and fifteen zero rows.
  constexpr int G = kPackedGroupRows;
  const int64_t rows = G + 1, cols = 64;
  for (TensorType type : {TensorType::Q4_0, TensorType::Q8_0}) {
    Weights w = random_weights(type, rows, cols, 4);
    const bool q8 = type == TensorType::Q8_0;
    const size_t block_bytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    auto packed = pack_weights(w.matrix);
    ASSERT_EQ(packed.size(), 2u * 2u * G * block_bytes);
    const auto* data = static_cast<const uint8_t*>(w.matrix.data);
    for (int64_t r = 0; r < 2 * G; r++) {
      for (int64_t b = 0; b < 2; b++) {
        const uint8_t* group = packed.data() + ((r / G) * 2 + b) * G * block_bytes;
        const int k = static_cast<int>(r % G);
        uint16_t d = 0;
        std::memcpy(&d, group + 2 * k, 2);
        const uint8_t* block = data + (r * 2 + b) * block_bytes;
        EXPECT_EQ(d, r < rows ? *reinterpret_cast<const uint16_t*>(block) : 0);
        for (int e = 0; e < (q8 ? 8 : 4); e++) {
          for (int t = 0; t < 4; t++) {
            uint8_t stored = group[2 * G + 4 * G * e + 4 * k + t];
            uint8_t expected = r < rows ? block[2 + 4 * e + t] : 0;
            EXPECT_EQ(stored, q8 ? static_cast<uint8_t>(expected ^ 0x80) : expected) << r << " " << b << " " << e;
          }
        }
      }
    }
  }
  // F16: column by column within each group of 16 rows.
  Weights h = random_weights(TensorType::F16, rows, 5, 6);
  auto packed_h = pack_weights(h.matrix);
  ASSERT_EQ(packed_h.size(), 2u * G * 5 * 2);
  const auto* values = static_cast<const uint16_t*>(h.matrix.data);
  const auto* stored = reinterpret_cast<const uint16_t*>(packed_h.data());
  for (int64_t r = 0; r < 2 * G; r++) {
    for (int64_t k = 0; k < 5; k++) {
      EXPECT_EQ(stored[(r / G) * G * 5 + k * G + r % G], r < rows ? values[r * 5 + k] : 0);
    }
  }
  EXPECT_TRUE(pack_weights(WeightMatrix{TensorType::F32, 2, 8, nullptr}).empty());
}

// K-quant blocks: every byte of a row's block at 16 * offset + unit * row, in 2-byte units for
// the f16 fields and 4-byte units for the rest.
TEST(KernelsTest, PackedKQuantsInterleaveEveryBlockField) {
  constexpr int G = kPackedGroupRows;
  const int64_t rows = G + 3, cols = 512;
  for (TensorType type : {TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    Weights w = random_weights(type, rows, cols, 8);
    const size_t block_bytes = row_bytes(type, 256);
    auto packed = pack_weights(w.matrix);
    ASSERT_EQ(packed.size(), 2u * 2u * G * block_bytes);
    const size_t f16_end = type == TensorType::Q6_K ? block_bytes : 4;
    const size_t f16_begin = type == TensorType::Q6_K ? block_bytes - 2 : 0;
    const auto* data = static_cast<const uint8_t*>(w.matrix.data);
    for (int64_t r = 0; r < 2 * G; r++) {
      for (int64_t b = 0; b < 2; b++) {
        const uint8_t* group = packed.data() + ((r / G) * 2 + b) * G * block_bytes;
        const uint8_t* block = data + (r * 2 + b) * block_bytes;
        for (size_t o = 0; o < block_bytes; o++) {
          const size_t unit = o >= f16_begin && o < f16_end ? 2 : 4;
          const uint8_t expected = r < rows ? block[o] : 0;
          ASSERT_EQ(group[G * (o - o % unit) + unit * (r % G) + o % unit], expected)
              << type_name(static_cast<uint32_t>(type)) << " row " << r << " offset " << o;
        }
      }
    }
  }
}

// Q5_0's fifth bit on every path, one block per row: row k sets only value k's fifth bit, with
// all nibbles 15 and scale 1 (so value k is 31 - 16 = 15, the others -1), against one-hot
// activations: y[row k, activation j] is 15 when j == k, else -1, whatever the path.
TEST(KernelsTest, Q5_0FifthBitReachesEachValueOnEveryPath) {
  const int64_t rows = 32, cols = 32;
  std::vector<uint8_t> bytes(row_bytes(TensorType::Q5_0, cols) * rows);
  for (int64_t r = 0; r < rows; r++) {
    auto* block = reinterpret_cast<BlockQ5_0*>(bytes.data()) + r;
    block->d = fp32_to_fp16(1.0f);
    const uint32_t qh = 1u << r;
    std::memcpy(block->qh, &qh, 4);
    std::fill(std::begin(block->qs), std::end(block->qs), uint8_t{0xff});
  }
  // Activation row j: 127 at value j, so its scale is exactly 1.
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t j = 0; j < rows; j++) x[static_cast<size_t>(j * cols + j)] = 127.0f;
  WeightMatrix w{TensorType::Q5_0, rows, cols, bytes.data()};
  for (KernelPath path : supported_paths()) {
    auto y = product(path, w, x, rows);
    for (int64_t j = 0; j < rows; j++) {
      for (int64_t r = 0; r < rows; r++) {
        EXPECT_EQ(y[static_cast<size_t>(j * rows + r)], (r == j ? 15.0f : -1.0f) * 127.0f)
            << kernel_path_name(path) << " row " << r << " activation " << j;
      }
    }
  }
}

// Q5_1's fifth bit and offset on every path, one block per row: row k sets only value k's fifth
// bit, with all nibbles 15, d = 1 and m = -20 (so value k is 31 - 20 = 11, the others -5), against
// one-hot activations: y[row k, activation j] is 11 when j == k, else -5, whatever the path.
TEST(KernelsTest, Q5_1FifthBitAndOffsetReachEachValueOnEveryPath) {
  const int64_t rows = 32, cols = 32;
  std::vector<uint8_t> bytes(row_bytes(TensorType::Q5_1, cols) * rows);
  for (int64_t r = 0; r < rows; r++) {
    auto* block = reinterpret_cast<BlockQ5_1*>(bytes.data()) + r;
    block->d = fp32_to_fp16(1.0f);
    block->m = fp32_to_fp16(-20.0f);
    const uint32_t qh = 1u << r;
    std::memcpy(block->qh, &qh, 4);
    std::fill(std::begin(block->qs), std::end(block->qs), uint8_t{0xff});
  }
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t j = 0; j < rows; j++) x[static_cast<size_t>(j * cols + j)] = 127.0f;
  WeightMatrix w{TensorType::Q5_1, rows, cols, bytes.data()};
  for (KernelPath path : supported_paths()) {
    auto y = product(path, w, x, rows);
    for (int64_t j = 0; j < rows; j++) {
      for (int64_t r = 0; r < rows; r++) {
        EXPECT_EQ(y[static_cast<size_t>(j * rows + r)], (r == j ? 11.0f : -5.0f) * 127.0f)
            << kernel_path_name(path) << " row " << r << " activation " << j;
      }
    }
  }
}

TEST(KernelsTest, ForcingAnUnsupportedPathIsRefused) {
  for (KernelPath p : {KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (!kernel_path_supported(p)) {
      KernelPath before = active_kernel_path();
      EXPECT_FALSE(set_kernel_path(p));
      EXPECT_EQ(active_kernel_path(), before);
    }
  }
  PathGuard guard;
  EXPECT_TRUE(set_kernel_path(KernelPath::kScalar));
  EXPECT_EQ(active_kernel_path(), KernelPath::kScalar);
}

}  // namespace
}  // namespace tokengrid::engine
