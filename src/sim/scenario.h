// A simulation scenario, read from YAML.
//
//   name: azure-grid-2024
//   start: "2024-07-01"             # UTC midnight at which the horizon begins
//   horizon_hours: 168              # 1 .. 8784
//   seed: 42
//   mode: request                   # request (every request simulated) | fleet (load curves)
//   slo: {ttft_s: 2.0, tpot_s: 0.2}
//   carbon_price_usd_per_t: 100     # balanced's carbon price (also in the summary's total)
//   policy: {slo_margin: 0.8}       # grid policy parameters (grid_config.h)
//   signals: {dir: ../../shared/data/grid}   # or {synthetic: true, seed: 3}
//   replica: {max_seqs: 256, token_budget: 8192}
//   workload:
//     model: llama-3.1-70b
//     trace: ../../shared/data/traces/azure_llm_2023_conv.csv
//     rate_rps: 40                  # mean over a day, all regions
//     deferrable: {share: 0.3, window_hours: 8}
//     regions:
//       - {name: us-east, share: 3, utc_offset_h: -5, shape: office}   # or shape: [24 factors]
//   sites: [...]                    # the grid's site format (grid_config.h)
//   placement: [...]
//   buildout:                       # capacity that comes online later
//     - {site: abilene, from: "2024-07-04", replicas: 32}
//   outages:
//     - {site: ashburn, from: "2024-07-02T10:00Z", until: "2024-07-02T16:00Z"}
//
// Relative paths are resolved against the scenario file's directory, and if nothing is there,
// against the working directory. Errors name the file, the line and the field
// ("s.yaml:14: workload.rate_rps: ..."); unknown keys are errors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grid/grid_config.h"
#include "grid/yaml_fields.h"
#include "grid/signals.h"
#include "sim/replica.h"
#include "sim/workload.h"

namespace tokengrid::sim {

enum class SimMode { kRequest, kFleet };

struct BuildOut {
  int site = 0;  // index into sites
  double from_unix_s = 0;
  int replicas = 0;  // replicas of the workload's model added from then on
};

struct Outage {
  int site = 0;
  double from_unix_s = 0;
  double until_unix_s = 0;
};

struct Scenario {
  std::string file;
  std::string name;
  double start_unix_s = 0;
  int horizon_hours = 24;
  uint64_t seed = 1;
  SimMode mode = SimMode::kRequest;
  Slo slo;
  grid::PolicyParams policy;
  std::string model;  // the workload's model (canonical shape name)
  WorkloadSpec workload;
  int32_t max_seqs = 256;
  int32_t token_budget = 8192;
  std::vector<grid::Site> sites;
  std::vector<grid::PlacementRule> placement;
  std::vector<BuildOut> buildout;
  std::vector<Outage> outages;
  std::shared_ptr<const grid::Signals> signals;

  double end_unix_s() const { return start_unix_s + horizon_hours * 3600.0; }
};

Result<Scenario> load_scenario(const std::string& path);
// `file` names the source in errors and anchors relative paths.
Result<Scenario> parse_scenario(const std::string& yaml_text, const std::string& file);

using grid::resolve_path;

}  // namespace tokengrid::sim
