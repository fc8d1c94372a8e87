// Grid configuration from YAML: sites, placement rules and policy parameters. Shared by the
// gateway's grid file and the simulator's scenario file, which embed these sections.
//
//   sites:
//     - name: ashburn
//       cloud: aws
//       region: us-east-1
//       zone: US-MIDA-PJM                  # grid zone of the signals
//       power_cap_kw: 20000                # optional, 0/absent: none
//       pue: {base: 1.15, threshold_c: 18, rise_per_c: 0.01, max: 1.5}   # optional
//       contract: {ppa_share: 0.5, ppa_price_usd_per_mwh: 70}            # optional: spot
//       accelerators: [{type: H100, count: 1024}]
//       models: [{name: llama-3.1-70b, accelerator: H100, tensor_parallel: 4, replicas: 64}]
//       latency_ms: {us-east: 5, us-west: 35, eu-west: 45}
//     - name: frankfurt                      # a live site: what its endpoints serve
//       cloud: gcp
//       region: europe-west3
//       zone: DE-LU
//       accelerators: [{type: cpu, count: 1}]
//       cpu_power: {idle_w: 100, busy_core_w: 8, cores: 2}                # optional
//       endpoints:                            # gateway only; models optional then
//         - {url: "http://10.0.0.7:8080", models: [llama-3.2-1b], api: tokengrid, max_concurrency: 16}
//   placement:
//     - {model: llama-3.1-405b, clouds: [azure], until: "2030-01-01"}   # from/until optional
//   policy: {carbon_price_usd_per_t: 100, slo_margin: 0.8, prefix_min_hit_tokens: 256}
//
// Errors name the file, line and field ("grid.yaml:12: sites[1].models[0].replicas: ...").
// Unknown keys are errors too, so a misspelt field is not silently ignored.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/status.h"
#include "grid/policy.h"
#include "grid/site.h"

namespace tokengrid::grid {

// `node` is the sequence under `sites:`. Site names must be unique; model names must be known
// shapes (stored canonical); accelerators known kinds; a model's replicas x tensor_parallel must
// not exceed the site's accelerators of that kind.
Result<std::vector<Site>> parse_sites(const YAML::Node& node, const std::string& file);
// `node` is the sequence under `placement:`.
Result<std::vector<PlacementRule>> parse_placement_rules(const YAML::Node& node, const std::string& file);
// `node` is the map under `policy:`; absent keys keep their defaults.
Result<PolicyParams> parse_policy_params(const YAML::Node& node, const std::string& file);

// A whole grid file: `sites` (required), `placement`, `policy` (optional).
struct GridConfig {
  std::vector<Site> sites;
  std::vector<PlacementRule> placement;
  PolicyParams policy;
};
Result<GridConfig> load_grid_config(const std::string& path);
Result<GridConfig> parse_grid_config(const std::string& yaml_text, const std::string& file);

}  // namespace tokengrid::grid
