// The accelerator table. Sources and assumptions:
//  - Peak FLOP/s, memory, bandwidth and TDP: ../shared/reference.md (datasheets, dense).
//  - Links, per device and direction: NVLink 3 (A100) 300 GB/s, NVLink 4 (H100/H200) 450 GB/s,
//    NVLink 5 (B200) 900 GB/s; MI300X Infinity Fabric 7 x 64 GB/s; Trainium2 NeuronLink taken as
//    500 GB/s; L40S has no NVLink: PCIe 4.0 x16, 32 GB/s.
//  - Power by phase: Splitwise's measurements for A100 (63/400/250 W) and H100 (75/700/380 W).
//    Other GPUs and Trainium2 scale their TDP by H100's ratios (idle 0.107, prefill 1.0,
//    decode 0.543). H200 decode is thereby 380 W, above the 137-300 W reported for some attention
//    kernels: a conservative choice.
//  - CPU server: two Xeon 6980P (128 cores each, 2.0 GHz), counted as one device. AMX BF16 peak
//    2 x 128 x 2.0e9 x 1024 FLOP/cycle = 524 TFLOP/s (no FP8); 24 x 64 GB DDR5; 2 x 12 channels of
//    DDR5-6400 = 1.23 TB/s; 2 x 500 W CPUs + 300 W platform = 1300 W, idle 30%, decode 80%
//    (memory-bound work keeps the cores busy polling). No peer link: tensor parallelism 1.
//  - Efficiency, tuned stack: NVIDIA matrix multiplies reach 78% of peak and copies 90% of
//    bandwidth (measured on H200, reference.md), applied to the whole family; FlashAttention-class
//    prefill attention 60%; NCCL-class allreduce 80% of link bandwidth and 3 us per ring step;
//    15 us per layer and 5 us per sequence per iteration (CUDA graphs, an asynchronous scheduler).
//    MI300X and Trainium2: public GEMM benchmarks reach about 60% of peak; 45% attention, 80%
//    memory. CPU: 30% of AMX peak, 50% of memory bandwidth (one model spans two NUMA sockets).
//    None of these is fitted to MLPerf.
//  - Efficiency, splitwise_2023 stack: fitted once per family (A100, H100) over every Llama-2-70B
//    and BLOOM-176B measurement in splitwise_perf_model.csv (minimising the worst group's mean
//    error; see perf_model_calibration_test.cpp). Its low attention efficiency reflects prefill
//    time growing with prompt length far faster than attention FLOPs in that stack.
#include "grid/accelerator.h"

#include <array>
#include <cctype>
#include <string>

namespace tokengrid::grid {
namespace {

constexpr double kT = 1e12;
constexpr double kG = 1e9;

constexpr EfficiencyProfile kNvidiaTuned{0.78, 0.60, 0.90, 0.80, 15e-6, 3e-6, 5e-6, true};
constexpr EfficiencyProfile kPcieTuned{0.78, 0.60, 0.90, 0.80, 15e-6, 10e-6, 5e-6, true};
constexpr EfficiencyProfile kOtherTuned{0.60, 0.45, 0.80, 0.70, 20e-6, 5e-6, 5e-6, true};
constexpr EfficiencyProfile kCpuTuned{0.30, 0.20, 0.50, 0.0, 20e-6, 0.0, 20e-6, true};
constexpr EfficiencyProfile kNoData{0, 0, 0, 0, 0, 0, 0, false};
constexpr EfficiencyProfile kA100Splitwise{0.599, 0.101, 0.7265, 0.447, 89.2e-6, 9.57e-6, 24.4e-6, true};
constexpr EfficiencyProfile kH100Splitwise{0.709, 0.0477, 0.565, 0.216, 51.7e-6, 5.47e-6, 309e-6, true};

// Splitwise/H100 phase ratios for families without measurements.
constexpr double kIdleRatio = 75.0 / 700.0;
constexpr double kDecodeRatio = 380.0 / 700.0;

constexpr AcceleratorSpec scaled(AcceleratorKind kind, std::string_view name, double bf16, double fp8,
                                 double mem, double bw, double link, double tdp,
                                 const EfficiencyProfile& tuned) {
  return AcceleratorSpec{kind, name, bf16, fp8, mem, bw, link, tdp,
                         tdp * kIdleRatio, tdp, tdp * kDecodeRatio, tuned, kNoData};
}

constexpr std::array<AcceleratorSpec, kAcceleratorKinds> kSpecs{{
    {AcceleratorKind::kA100, "A100", 312 * kT, 312 * kT, 80 * kG, 2.0 * kT, 300 * kG, 400, 63, 400, 250,
     kNvidiaTuned, kA100Splitwise},
    {AcceleratorKind::kH100, "H100", 989 * kT, 1979 * kT, 80 * kG, 3.35 * kT, 450 * kG, 700, 75, 700, 380,
     kNvidiaTuned, kH100Splitwise},
    scaled(AcceleratorKind::kH200, "H200", 989 * kT, 1979 * kT, 141 * kG, 4.8 * kT, 450 * kG, 700, kNvidiaTuned),
    scaled(AcceleratorKind::kB200, "B200", 2250 * kT, 4500 * kT, 180 * kG, 8.0 * kT, 900 * kG, 1000, kNvidiaTuned),
    scaled(AcceleratorKind::kMI300X, "MI300X", 1307 * kT, 2615 * kT, 192 * kG, 5.3 * kT, 448 * kG, 750, kOtherTuned),
    scaled(AcceleratorKind::kL40S, "L40S", 362 * kT, 733 * kT, 48 * kG, 0.864 * kT, 32 * kG, 350, kPcieTuned),
    scaled(AcceleratorKind::kTrainium2, "Trainium2", 667 * kT, 1300 * kT, 96 * kG, 2.9 * kT, 500 * kG, 500,
           kOtherTuned),
    {AcceleratorKind::kCpuServer, "CPU", 524 * kT, 524 * kT, 1536 * kG, 1.229 * kT, 0, 1300, 390, 1300, 1040,
     kCpuTuned, kNoData},
}};

struct Alias {
  std::string_view alias;
  AcceleratorKind kind;
};
constexpr Alias kAliases[] = {
    {"a100-80gb", AcceleratorKind::kA100},   {"a100-sxm", AcceleratorKind::kA100},
    {"h100-80gb", AcceleratorKind::kH100},   {"h100-sxm", AcceleratorKind::kH100},
    {"h200-sxm", AcceleratorKind::kH200},    {"b200-hgx", AcceleratorKind::kB200},
    {"mi300", AcceleratorKind::kMI300X},     {"trn2", AcceleratorKind::kTrainium2},
    {"trainium", AcceleratorKind::kTrainium2}, {"cpu-server", AcceleratorKind::kCpuServer},
    {"xeon", AcceleratorKind::kCpuServer},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const AcceleratorSpec& accelerator_spec(AcceleratorKind kind) { return kSpecs[static_cast<int>(kind)]; }

std::span<const AcceleratorSpec> accelerator_specs() { return kSpecs; }

Result<AcceleratorKind> parse_accelerator(std::string_view name) {
  const std::string key = lower(name);
  for (const auto& spec : kSpecs)
    if (lower(spec.name) == key) return spec.kind;
  for (const auto& alias : kAliases)
    if (alias.alias == key) return alias.kind;
  std::string known;
  for (const auto& spec : kSpecs) known += (known.empty() ? "" : ", ") + std::string(spec.name);
  return invalid_argument("unknown accelerator '" + std::string(name) + "'; known: " + known);
}

}  // namespace tokengrid::grid
