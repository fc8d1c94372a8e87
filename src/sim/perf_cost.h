// The replica model's iteration cost taken from the grid's roofline performance model.
#pragma once

#include "grid/perf_model.h"
#include "sim/replica.h"

namespace tokengrid::sim {

class PerfModelCost final : public IterationCostModel {
 public:
  explicit PerfModelCost(const grid::PerfModel& model) : model_(model) {}
  StepCost cost(const IterationLoad& load) const override {
    const grid::IterationCost c = model_.iteration_cost(load);
    return {c.seconds, c.power_w};
  }
  double idle_watts() const override { return model_.idle_watts(); }

 private:
  const grid::PerfModel& model_;
};

// The replica settings for a deployment: KV capacity from the performance model.
inline ReplicaConfig replica_config(const grid::PerfModel& model, int32_t max_seqs, int32_t token_budget) {
  return {static_cast<int64_t>(model.kv_capacity_tokens()), max_seqs, token_budget};
}

}  // namespace tokengrid::sim
