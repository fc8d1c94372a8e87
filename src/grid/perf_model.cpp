#include "grid/perf_model.h"

#include <cmath>
#include <string>

namespace tokengrid::grid {
namespace {

constexpr double kMemoryReserve = 0.9;   // share of device memory for weights + KV cache
constexpr double kActivationBytes = 2;   // BF16 activations, also on the wire

}  // namespace

Result<PerfModel> PerfModel::create(const Deployment& deployment) {
  const ModelShape& m = deployment.model;
  const AcceleratorSpec& spec = accelerator_spec(deployment.accelerator);
  const EfficiencyProfile& eff = spec.profile(deployment.stack);
  const int tp = deployment.tensor_parallel;
  if (m.layers <= 0 || m.hidden <= 0 || m.heads <= 0 || m.kv_heads <= 0 || m.head_dim <= 0 || m.ffn <= 0 ||
      m.vocab <= 0 || m.experts < 1 || m.active_experts < 1 || m.active_experts > m.experts ||
      m.bytes_per_param <= 0 || m.kv_bytes_per_elem <= 0)
    return invalid_argument("model shape '" + m.name + "' has a zero or inconsistent dimension");
  if (tp < 1 || tp > 64)
    return invalid_argument("tensor_parallel " + std::to_string(tp) + " for " + m.name +
                            " is outside 1..64");
  if (tp > 1 && spec.link_bw_bytes_per_s <= 0)
    return invalid_argument(std::string(spec.name) + " has no peer link: use tensor_parallel 1");
  if (!eff.has_data)
    return invalid_argument("the splitwise_2023 stack has no measurements on " + std::string(spec.name) +
                            "; use the tuned stack");

  PerfModel pm;
  pm.deployment_ = deployment;
  pm.spec_ = &spec;
  const double weight_bytes = m.weight_params() * m.bytes_per_param;
  const double usable = spec.memory_bytes * kMemoryReserve * tp;
  if (weight_bytes >= usable) {
    const int needed = static_cast<int>(std::ceil(weight_bytes / (spec.memory_bytes * kMemoryReserve))) + 1;
    return resource_exhausted(m.name + " needs " + std::to_string(weight_bytes / 1e9) + " GB of weights; " +
                              std::to_string(tp) + " x " + std::string(spec.name) + " hold " +
                              std::to_string(usable / 1e9) + " GB usable: use about " + std::to_string(needed) +
                              " devices");
  }

  const double active = m.active_params();
  const double expert = m.expert_params();
  pm.flops_per_token_ = 2 * active / tp;
  pm.attention_flops_per_context_ = 4.0 * m.layers * m.heads * m.head_dim / tp;
  // Per iteration, every weight but the embedding table is read once; MoE experts only if used.
  const double read_params = active - m.active_experts * expert;
  pm.dense_weight_bytes_ = read_params * m.bytes_per_param / tp;
  pm.expert_bytes_ = expert * m.bytes_per_param / tp;
  if (m.experts > 1) {
    const double miss = 1.0 - static_cast<double>(m.active_experts) / m.experts;
    for (int t = 0; t < kExpertTable; ++t) pm.experts_touched_[t] = m.experts * (1.0 - std::pow(miss, t));
  }
  const double kv_heads_per_device = std::max(static_cast<double>(m.kv_heads) / tp, 1.0);
  pm.kv_bytes_per_token_ = static_cast<double>(m.layers) * 2 * kv_heads_per_device * m.head_dim * m.kv_bytes_per_elem;
  const double ffn_mats = m.gated_ffn ? 3.0 : 2.0;
  pm.activation_bytes_per_token_ =
      kActivationBytes * m.layers * (4.0 * m.hidden + 3.0 * ffn_mats * m.ffn * m.active_experts / tp);

  const bool fp8 = m.bytes_per_param <= 1;
  const double peak = fp8 ? spec.fp8_flops : spec.bf16_flops;
  pm.seconds_per_flop_ = 1.0 / (peak * eff.compute);
  pm.seconds_per_attention_flop_ = 1.0 / (peak * eff.attention);
  pm.seconds_per_byte_ = 1.0 / (spec.memory_bw_bytes_per_s * eff.memory);
  pm.sequence_overhead_s_ = eff.sequence_overhead_s;
  const double allreduces = 2.0 * m.layers;
  pm.fixed_s_ = m.layers * eff.layer_overhead_s;
  if (tp > 1) {
    pm.fixed_s_ += allreduces * 2.0 * (tp - 1) * eff.allreduce_step_s;
    pm.comm_s_per_token_ = allreduces * 2.0 * (tp - 1) / tp * m.hidden * kActivationBytes /
                           (spec.link_bw_bytes_per_s * eff.link);
  }
  const double per_device_weights = weight_bytes / tp;
  pm.kv_capacity_tokens_ = (spec.memory_bytes * kMemoryReserve - per_device_weights) / pm.kv_bytes_per_token_;
  return pm;
}

IterationCost PerfModel::iteration_cost(const IterationBatch& batch) const {
  IterationCost c;
  if (batch.empty()) return c;
  const double tokens = batch.prefill_tokens + batch.decode_seqs;
  c.compute_s =
      (flops_per_token_ * tokens + attention_flops_per_context_ * batch.decode_context) * seconds_per_flop_ +
      attention_flops_per_context_ * batch.prefill_attention * seconds_per_attention_flop_;
  const double bytes = weight_bytes_touched(tokens) +
                       kv_bytes_per_token_ * (batch.decode_context + batch.prefill_tokens) +
                       activation_bytes_per_token_ * tokens;
  c.memory_s = bytes * seconds_per_byte_;
  c.comm_s = comm_s_per_token_ * tokens;
  if (deployment_.tensor_parallel > 1)
    c.comm_s += 2.0 * deployment_.model.layers * 2.0 * (deployment_.tensor_parallel - 1) *
                spec_->profile(deployment_.stack).allreduce_step_s;
  c.overhead_s = iteration_seconds(batch) - std::max(c.compute_s, c.memory_s) - c.comm_s;
  c.seconds = iteration_seconds(batch);
  // Compute-bound work draws prefill power, memory-bound work decode power (Splitwise's phases).
  const double compute_share = c.compute_s / (c.compute_s + c.memory_s);
  c.power_w = devices() * (spec_->decode_w + (spec_->prefill_w - spec_->decode_w) * compute_share);
  c.joules = c.power_w * c.seconds;
  return c;
}

double PerfModel::prefill_seconds(double prompt_tokens) const {
  IterationBatch b;
  b.add_prefill_chunk(prompt_tokens, 0);
  return iteration_seconds(b);
}

double PerfModel::decode_step_seconds(double batch, double mean_context) const {
  IterationBatch b;
  b.decode_seqs = batch;
  b.decode_context = batch * mean_context;
  return iteration_seconds(b);
}

OfflineThroughput PerfModel::offline_throughput(double mean_input, double mean_output, int max_batch) const {
  OfflineThroughput out;
  if (mean_input < 0 || mean_output <= 0 || max_batch < 1) return out;
  // Each sequence holds on average its prompt and half its output in the KV cache.
  const double mean_context = mean_input + mean_output / 2;
  const int fit = static_cast<int>(kv_capacity_tokens_ / std::max(mean_context, 1.0));
  out.batch = std::max(0, std::min(max_batch, fit));
  if (out.batch == 0) return out;
  IterationBatch b;
  b.decode_seqs = out.batch;
  b.decode_context = out.batch * mean_context;
  // Finished sequences are replaced by new ones: batch / mean_output prompts per iteration.
  const double new_prompts = out.batch / mean_output;
  b.prefill_seqs = new_prompts;
  b.prefill_tokens = new_prompts * mean_input;
  b.prefill_attention = new_prompts * mean_input * mean_input * 0.5;
  const IterationCost cost = iteration_cost(b);
  out.iteration_s = cost.seconds;
  out.output_tokens_per_s = out.batch / cost.seconds;
  out.total_tokens_per_s = (out.batch + b.prefill_tokens) / cost.seconds;
  out.power_w = cost.power_w;
  return out;
}

}  // namespace tokengrid::grid
