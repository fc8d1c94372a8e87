// Roofline performance and power model of one model replica (a model on `tensor_parallel`
// devices of one accelerator kind), cheap enough to call once per simulated engine iteration.
//
// For an iteration's work (prefill chunks and decode steps, described by a few sums in
// IterationBatch) it predicts
//   seconds = max(GEMM FLOPs / (peak x compute_eff) + prefill attention FLOPs / (peak x attention_eff),
//                 bytes / (bandwidth x memory_eff))
//             + layers x layer_overhead + sequences x sequence_overhead + allreduce time
// where GEMM FLOPs are 2 x active parameters per token (decode attention is counted with them),
// bytes are the weights read once per iteration (MoE: the experts the batch touches), the KV cache
// read by each decode step and written by each prefilled token, and activations; the allreduce
// time is two ring allreduces per layer: 2(tp-1) steps of latency plus 2(tp-1)/tp of the
// activation bytes over the link. FP8 weights (bytes_per_param 1) run at the FP8 peak. The
// efficiency factors come from the accelerator family's row for the deployment's serving stack
// (accelerator.h), never from the workload. Calibration against MLPerf v4.1 and Splitwise's
// measurements: perf_model_calibration_test.cpp.
//
// Power follows Splitwise's constant model: each device draws between its decode and its prefill
// power by how compute-bound the iteration is, and its idle power when there is no work.
// PerfModel is immutable after create(); the per-iteration calls allocate nothing.
#pragma once

#include <algorithm>
#include <array>

#include "core/status.h"
#include "grid/accelerator.h"
#include "grid/model_shape.h"

namespace tokengrid::grid {

// What runs where: a model shape on `tensor_parallel` devices of one kind forms one replica.
struct Deployment {
  ModelShape model;
  AcceleratorKind accelerator = AcceleratorKind::kH100;
  int tensor_parallel = 1;
  ServingStack stack = ServingStack::kTuned;
};

// The work of one engine iteration under continuous batching, as running sums the simulator can
// update incrementally. Contexts count tokens already in the KV cache.
struct IterationBatch {
  double prefill_tokens = 0;     // prompt tokens processed this iteration (all chunks)
  double prefill_attention = 0;  // sum over chunks of chunk * (context_before + chunk / 2)
  double prefill_seqs = 0;       // sequences with a prefill chunk this iteration
  double decode_seqs = 0;        // sequences producing one token this iteration
  double decode_context = 0;     // sum of those sequences' context lengths

  void add_prefill_chunk(double tokens, double context_before) {
    prefill_tokens += tokens;
    prefill_seqs += 1;
    prefill_attention += tokens * (context_before + tokens * 0.5);
  }
  void add_decode(double context) {
    decode_seqs += 1;
    decode_context += context;
  }
  bool empty() const { return prefill_tokens <= 0 && decode_seqs <= 0; }
};

// The parts of one iteration's predicted time, and its energy over all devices of the replica.
struct IterationCost {
  double seconds = 0;
  double compute_s = 0;   // FLOPs at the effective compute rate
  double memory_s = 0;    // bytes at the effective bandwidth
  double comm_s = 0;      // tensor-parallel allreduces
  double overhead_s = 0;  // fixed per-iteration cost
  double power_w = 0;     // mean draw of all the replica's devices during the iteration
  double joules = 0;      // power_w * seconds
};

// Steady-state throughput of a replica kept full of requests of mean input/output length
// (MLPerf "Offline"): every iteration decodes `batch` sequences and prefills the prompts of the
// sequences that replace the finished ones.
struct OfflineThroughput {
  int batch = 0;                      // concurrent sequences (KV capacity or max_batch bound)
  double iteration_s = 0;
  double output_tokens_per_s = 0;     // generated tokens (MLPerf's metric)
  double total_tokens_per_s = 0;      // prompt + generated tokens
  double power_w = 0;                 // all devices of the replica
};

class PerfModel {
 public:
  // Fails when tensor_parallel is not 1..64 (1 for devices without a peer link), the shape is
  // empty, the stack has no data for the accelerator, or the weights do not fit in the replica's
  // memory (the message says how many devices would).
  static Result<PerfModel> create(const Deployment& deployment);

  const Deployment& deployment() const { return deployment_; }
  const AcceleratorSpec& accelerator() const { return *spec_; }
  int devices() const { return deployment_.tensor_parallel; }

  // Predicted wall time of one iteration; 0 for an empty batch. Allocation-free, branch-light.
  double iteration_seconds(const IterationBatch& batch) const {
    if (batch.empty()) return 0;
    const double tokens = batch.prefill_tokens + batch.decode_seqs;
    const double compute_s =
        (flops_per_token_ * tokens + attention_flops_per_context_ * batch.decode_context) * seconds_per_flop_ +
        attention_flops_per_context_ * batch.prefill_attention * seconds_per_attention_flop_;
    const double bytes = weight_bytes_touched(tokens) +
                         kv_bytes_per_token_ * (batch.decode_context + batch.prefill_tokens) +
                         activation_bytes_per_token_ * tokens;
    return std::max(compute_s, bytes * seconds_per_byte_) + fixed_s_ +
           sequence_overhead_s_ * (batch.decode_seqs + batch.prefill_seqs) + comm_s_per_token_ * tokens;
  }

  // The same prediction split into parts, with power and energy.
  IterationCost iteration_cost(const IterationBatch& batch) const;

  // Tokens of KV cache the replica can hold: device memory x 0.9 (the rest reserved for
  // activations and the framework) minus the weights, over KV bytes per token.
  double kv_capacity_tokens() const { return kv_capacity_tokens_; }

  // Draw of all the replica's devices with no work.
  double idle_watts() const { return spec_->idle_w * deployment_.tensor_parallel; }

  // Convenience for meters and capacity estimates (each builds one IterationBatch).
  double prefill_seconds(double prompt_tokens) const;                 // one prompt, one chunk
  double decode_step_seconds(double batch, double mean_context) const;  // one decode iteration

  // See OfflineThroughput; max_batch bounds concurrency as a serving engine's setting would.
  OfflineThroughput offline_throughput(double mean_input, double mean_output, int max_batch) const;

 private:
  PerfModel() = default;
  double weight_bytes_touched(double tokens) const {
    if (expert_bytes_ <= 0) return dense_weight_bytes_;
    const int t = tokens >= kExpertTable - 1 ? kExpertTable - 1 : static_cast<int>(tokens);
    return dense_weight_bytes_ + expert_bytes_ * experts_touched_[t];
  }

  static constexpr int kExpertTable = 257;
  Deployment deployment_;
  const AcceleratorSpec* spec_ = nullptr;
  // Per-device constants precomputed by create().
  double flops_per_token_ = 0;
  double attention_flops_per_context_ = 0;
  double dense_weight_bytes_ = 0;   // non-expert weights (all weights for dense models)
  double expert_bytes_ = 0;         // one expert's weights across layers, per device
  std::array<double, kExpertTable> experts_touched_{};  // expected experts used by t tokens
  double kv_bytes_per_token_ = 0;
  double activation_bytes_per_token_ = 0;
  double seconds_per_flop_ = 0;
  double seconds_per_attention_flop_ = 0;
  double seconds_per_byte_ = 0;
  double fixed_s_ = 0;              // layer overheads + allreduce latencies
  double sequence_overhead_s_ = 0;
  double comm_s_per_token_ = 0;
  double kv_capacity_tokens_ = 0;
};

}  // namespace tokengrid::grid
