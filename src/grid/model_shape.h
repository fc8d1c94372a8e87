// Model shapes: the transformer dimensions the performance model needs, for the models the
// simulator and planner know by name (Llama-2-70B, Llama-3.1-8B/70B/405B, Mixtral-8x7B and
// BLOOM-176B, the last for calibration against Splitwise's measurements).
//
// A shape is plain data; derived sizes (parameters, KV bytes per token) are computed from it.
// Mixture-of-experts models count `experts` FFN blocks per layer of which `active_experts`
// run for each token.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tokengrid::grid {

struct ModelShape {
  std::string name;            // canonical: "llama-2-70b", "llama-3.1-8b", "mixtral-8x7b", ...
  int layers = 0;
  int hidden = 0;              // model dimension
  int heads = 0;               // query heads
  int kv_heads = 0;            // key/value heads (grouped-query attention when < heads)
  int head_dim = 0;
  int ffn = 0;                 // FFN inner dimension (per expert for MoE)
  int vocab = 0;
  int experts = 1;             // FFN experts per layer (1: dense)
  int active_experts = 1;      // experts each token runs through
  bool gated_ffn = true;       // SwiGLU (3 matrices) vs plain MLP (2)
  bool tied_embeddings = false;// output head shares the embedding table
  double bytes_per_param = 2;  // 2: BF16/FP16 weights, 1: FP8/INT8
  double kv_bytes_per_elem = 2;
  int max_context = 4096;

  // Parameters of attention + FFN + output head (embedding lookups cost no FLOPs but their
  // table is counted in weight_params()).
  double weight_params() const;
  // Parameters each token multiplies through (MoE: active experts only), output head included.
  double active_params() const;
  // Parameters of one expert's FFN across all layers (0 for dense models).
  double expert_params() const;
  // KV cache bytes one token of context occupies across all layers.
  double kv_bytes_per_token() const;
};

// The shape of a known model by name (case-insensitive; aliases such as "llama2-70b",
// "Llama-3.1-70B-Instruct" accepted). A "-fp8" suffix gives FP8 weights and KV cache (name kept
// with the suffix). The error lists the known names.
Result<ModelShape> model_shape(std::string_view name);

// All known shapes, canonical names.
std::span<const ModelShape> known_model_shapes();

}  // namespace tokengrid::grid
