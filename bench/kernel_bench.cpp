#include "bench/kernel_bench.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "engine/huge_pages.h"
#include "engine/matmul.h"
#include "engine/thread_pool.h"

namespace tokengrid::bench {

using engine::HugePageBytes;
using engine::WeightMatrix;
using engine::active_kernel_path;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Reads [p, p + bytes) into four independent chains; the result is kept so the loads cannot be
// dropped. The widest loads the CPU has, as the kernels use them.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) uint64_t read_all_avx512(const uint8_t* p, size_t bytes) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (size_t i = 0; i + 256 <= bytes; i += 256) {
    a = _mm512_xor_si512(a, _mm512_load_si512(p + i));
    b = _mm512_xor_si512(b, _mm512_load_si512(p + i + 64));
    c = _mm512_xor_si512(c, _mm512_load_si512(p + i + 128));
    d = _mm512_xor_si512(d, _mm512_load_si512(p + i + 192));
  }
  __m512i x = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, x);
  return lanes[0] ^ lanes[7];
}

__attribute__((target("avx2"))) uint64_t read_all_avx2(const uint8_t* p, size_t bytes) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    a = _mm256_xor_si256(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  __m256i x = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), x);
  return lanes[0] ^ lanes[3];
}
#endif

uint64_t read_all(const uint8_t* p, size_t bytes) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx512) return read_all_avx512(p, bytes);
  if (avx2) return read_all_avx2(p, bytes);
#endif
  uint64_t acc = 0;
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc ^= v;
  }
  return acc;
}

}  // namespace

Stat summarize(std::vector<double> samples) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  double median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return {median, 0.5 * (samples.back() - samples.front())};
}

Stat measure_read_bandwidth(ThreadPool* pool, size_t bytes, int rounds) {
  constexpr size_t kChunk = 1 << 20;  // tasks of 1 MiB
  bytes = std::max(kChunk, bytes / kChunk * kChunk);
  // Huge pages where available, as the repacked weights have.
  HugePageBytes storage(bytes);
  uint8_t* const data = storage.data();
  // Touch every page, with data the reads cannot predict.
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t v = rng();
    std::memcpy(data + i, &v, 8);
  }
  const int64_t tasks = static_cast<int64_t>(bytes / kChunk);
  std::vector<uint64_t> sink(static_cast<size_t>(pool != nullptr ? pool->threads() : 1));
  auto read_round = [&] {
    auto body = [&](int64_t begin, int64_t end, int thread) {
      sink[static_cast<size_t>(thread)] ^= read_all(data + begin * kChunk, static_cast<size_t>(end - begin) * kChunk);
    };
    // 8 MiB grabs: long sequential streams, as a product reads its rows, yet a thread that
    // starts late still gets its share.
    if (pool != nullptr) {
      pool->parallel_for(tasks, body, 8);
    } else {
      body(0, tasks, 0);
    }
  };
  read_round();  // warm-up
  std::vector<double> samples;
  for (int r = 0; r < rounds; r++) {
    auto start = Clock::now();
    read_round();
    samples.push_back(static_cast<double>(bytes) / seconds_since(start) / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sink) keep = keep ^ s;
  return summarize(samples);
}

std::vector<KernelBenchRow> bench_kernels(ThreadPool* pool, int64_t rows, int64_t cols,
                                          const std::vector<TensorType>& types,
                                          const std::vector<KernelPath>& paths,
                                          const std::vector<int64_t>& batches, double seconds) {
  std::vector<KernelBenchRow> out;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());
  std::vector<float> x(static_cast<size_t>(max_batch * cols)), y(static_cast<size_t>(max_batch * rows));
  for (auto& v : x) v = dist(rng);
  std::vector<float> row(static_cast<size_t>(cols));
  const KernelPath saved = active_kernel_path();
  for (TensorType type : types) {
    const size_t stride = row_bytes(type, cols);
    std::vector<uint8_t> weights(stride * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; r++) {
      for (auto& v : row) v = dist(rng);
      quantize_row(type, row.data(), weights.data() + stride * static_cast<size_t>(r), cols);
    }
    WeightMatrix plain{type, rows, cols, weights.data()};
    HugePageBytes packed_bytes = pack_weights(plain);
    WeightMatrix packed = plain;
    packed.packed = packed_bytes.data();
    for (KernelPath path : paths) {
      if (!set_kernel_path(path)) continue;
      for (bool use_packed : {false, true}) {
        if (use_packed && (packed_bytes.empty() || !path_reads_packed(path, type))) continue;
        const WeightMatrix& w = use_packed ? packed : plain;
        for (int64_t batch : batches) {
          matmul(w, x.data(), batch, y.data(), pool);
          int64_t calls = 0;
          auto start = Clock::now();
          double elapsed = 0.0;
          while (elapsed < seconds) {
            matmul(w, x.data(), batch, y.data(), pool);
            calls++;
            elapsed = seconds_since(start);
          }
          double per_call = elapsed / static_cast<double>(calls);
          out.push_back({type, path, use_packed, batch, static_cast<double>(weights.size()) / per_call / 1e9,
                         2.0 * static_cast<double>(rows * cols * batch) / per_call / 1e9});
        }
      }
    }
  }
  set_kernel_path(saved);
  return out;
}

}  // namespace tokengrid::bench
