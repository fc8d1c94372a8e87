// Accelerators: the hardware table every cost, energy and speed estimate starts from.
//
// One row per device type: peak dense FLOP/s (BF16, FP8), memory, memory bandwidth, interconnect
// bandwidth, TDP and the power drawn while idle, prefilling and decoding (Splitwise's constant
// power model). Each row also carries the efficiency factors of the roofline model
// (perf_model.h) for two serving stacks: `tuned`, today's engines (TensorRT-LLM, vLLM with CUDA
// graphs, FlashAttention, custom allreduce), from hardware microbenchmarks; and `splitwise_2023`,
// the 2023 stack Splitwise measured, fitted once per family over all its measurements. They are
// global per accelerator family and stack, never per workload. The table is constant data:
// lookups by kind are array indexing.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"

namespace tokengrid::grid {

enum class AcceleratorKind : uint8_t {
  kA100,        // NVIDIA A100 SXM 80GB
  kH100,        // NVIDIA H100 SXM 80GB
  kH200,        // NVIDIA H200 SXM 141GB
  kB200,        // NVIDIA B200 (HGX)
  kMI300X,      // AMD Instinct MI300X
  kL40S,        // NVIDIA L40S (PCIe, no NVLink)
  kTrainium2,   // AWS Trainium2
  kCpuServer,   // a 2-socket server of current Xeons counted as one device (see accelerator.cpp)
};
inline constexpr int kAcceleratorKinds = 8;

// Which software the efficiency factors describe (see the comment at the top).
enum class ServingStack : uint8_t { kTuned, kSplitwise2023 };

// Roofline efficiency factors of one accelerator family under one serving stack.
struct EfficiencyProfile {
  double compute = 0;            // achieved / peak FLOP/s in the matrix multiplies
  double attention = 0;          // achieved / peak FLOP/s in prefill attention
  double memory = 0;             // achieved / peak memory bandwidth
  double link = 0;               // achieved / peak interconnect bandwidth in allreduces
  double layer_overhead_s = 0;   // fixed cost per layer per iteration (kernel launches, sync)
  double allreduce_step_s = 0;   // latency of one ring step of an allreduce
  double sequence_overhead_s = 0;// per sequence in the iteration (scheduling, sampling)
  bool has_data = true;          // false: no measurements of this stack on this family
};

struct AcceleratorSpec {
  AcceleratorKind kind;
  std::string_view name;             // canonical short name: "A100", "H100", ..., "CPU"
  double bf16_flops;                 // dense peak FLOP/s
  double fp8_flops;                  // dense peak FLOP/s; equals bf16_flops where FP8 is absent
  double memory_bytes;               // device memory usable for weights, KV cache, activations
  double memory_bw_bytes_per_s;      // peak memory bandwidth
  double link_bw_bytes_per_s;        // peer interconnect per device and direction (NVLink, ...)
  double tdp_w;
  double idle_w;                     // powered on, no work
  double prefill_w;                  // while running compute-bound (prefill) iterations
  double decode_w;                   // while running memory-bound (decode) iterations
  EfficiencyProfile tuned;
  EfficiencyProfile splitwise_2023;  // measured (has_data) for A100 and H100 only

  const EfficiencyProfile& profile(ServingStack stack) const {
    return stack == ServingStack::kSplitwise2023 ? splitwise_2023 : tuned;
  }
};

// The spec of a kind; never fails.
const AcceleratorSpec& accelerator_spec(AcceleratorKind kind);

// All rows, in AcceleratorKind order.
std::span<const AcceleratorSpec> accelerator_specs();

// Case-insensitive lookup by canonical name or a common alias ("h100-80gb", "mi300x",
// "trn2", "cpu", ...). The error lists the known names.
Result<AcceleratorKind> parse_accelerator(std::string_view name);

}  // namespace tokengrid::grid
