// Accelerators: the hardware table every cost, energy and speed estimate starts from.
//
// One row per device type: peak dense FLOP/s (BF16, FP8), memory, memory bandwidth, interconnect
// bandwidth, TDP and the power drawn while idle, prefilling and decoding (Splitwise's constant
// power model). Each row also carries the efficiency factors of the roofline model
// (perf_model.h); they are global per accelerator family, calibrated once (see perf_model.h),
// never per workload. The table is constant data: lookups by kind are array indexing.
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
  // Roofline efficiency of the family (perf_model.h): achieved/peak compute, achieved/peak
  // memory bandwidth, achieved/peak link bandwidth, fixed seconds per iteration (scheduling,
  // kernel launches) and seconds per ring step of an allreduce.
  double compute_efficiency;
  double memory_efficiency;
  double link_efficiency;
  double iteration_overhead_s;
  double allreduce_step_s;
};

// The spec of a kind; never fails.
const AcceleratorSpec& accelerator_spec(AcceleratorKind kind);

// All rows, in AcceleratorKind order.
std::span<const AcceleratorSpec> accelerator_specs();

// Case-insensitive lookup by canonical name or a common alias ("h100-80gb", "mi300x",
// "trn2", "cpu", ...). The error lists the known names.
Result<AcceleratorKind> parse_accelerator(std::string_view name);

}  // namespace tokengrid::grid
