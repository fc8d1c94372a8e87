// Sites and placement rules: the static description of the datacenters a grid dispatches to.
//
// A site sits in one cloud region and one grid zone, holds pools of accelerators, serves some
// models on replicas of them, has a power cap, a PUE that rises with outside temperature and an
// energy contract (the zone's hourly spot price, a fixed PPA price, or a mix). Placement rules
// restrict which models may run on which clouds and when; every policy sees their outcome as
// SiteState::placement_allowed.
#pragma once

#include <algorithm>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grid/accelerator.h"

namespace tokengrid::grid {

// PUE(temp) = min(max_pue, base + rise_per_c x max(0, temp - threshold_c)).
struct PueModel {
  double base = 1.15;
  double threshold_c = 18;
  double rise_per_c = 0.01;
  double max_pue = 1.6;
  double at(double temp_c) const {
    return std::min(max_pue, base + rise_per_c * std::max(0.0, temp_c - threshold_c));
  }
};

// Energy price paid: ppa_share x ppa_price + (1 - ppa_share) x spot. Spot only: share 0;
// a fixed PPA: share 1.
struct EnergyContract {
  double ppa_share = 0;
  double ppa_price_usd_per_mwh = 0;
  double price(double spot_usd_per_mwh) const {
    return ppa_share * ppa_price_usd_per_mwh + (1 - ppa_share) * spot_usd_per_mwh;
  }
};

struct AcceleratorPool {
  AcceleratorKind kind = AcceleratorKind::kH100;
  int count = 0;
};

// A model served at a site: `replicas` copies, each on `tensor_parallel` devices of `accelerator`.
struct ModelReplicas {
  std::string model;  // a model_shape() name (canonical)
  AcceleratorKind accelerator = AcceleratorKind::kH100;
  int tensor_parallel = 1;
  int replicas = 0;
};

// Power of a CPU server site, for accelerators of type cpu: the draw with no work, and what
// each core adds while it computes. Estimated draw = idle_w + busy_core_w x busy cores; a
// worker that reports its package power (RAPL) replaces the estimate with the measurement.
// Defaults: a current two-socket server idles near 100 W and a busy core adds about 8 W.
struct CpuPowerModel {
  double idle_w = 100;
  double busy_core_w = 8;
  int cores = 0;  // cores the workers compute on; 0: as the workers report
  double watts(double busy_cores) const { return idle_w + busy_core_w * busy_cores; }
};

// An OpenAI-compatible server at a site that live traffic is sent to. `models` are the names
// clients ask for; `api` tokengrid marks a `tokengrid serve` worker (stats route, token ids),
// openai any other server (vLLM, llama.cpp's server).
struct SiteEndpoint {
  std::string url;
  std::vector<std::string> models;
  std::string api = "tokengrid";
  int max_concurrency = 16;  // sequences the endpoint runs at once at full power
  bool serves(std::string_view model) const {
    for (const auto& m : models)
      if (m == model) return true;
    return false;
  }
};

// One-way network latency from a user region to the site.
struct RegionLatency {
  std::string region;
  double ms = 0;
};

struct Site {
  std::string name;
  std::string cloud;    // "aws", "azure", "gcp", "oracle", "onprem", ...
  std::string region;   // the cloud's region name
  std::string zone;     // grid zone, as in the signals ("US-MIDA-PJM")
  std::vector<AcceleratorPool> accelerators;
  std::vector<ModelReplicas> models;
  double power_cap_kw = 0;  // facility draw limit; 0: none
  PueModel pue;
  EnergyContract contract;
  std::vector<RegionLatency> latency;
  CpuPowerModel cpu_power;
  std::vector<SiteEndpoint> endpoints;  // live sites only; the simulator ignores them

  // The replicas of `model` here, or nullptr.
  const ModelReplicas* find_model(std::string_view model) const {
    for (const auto& m : models)
      if (m.model == model) return &m;
    return nullptr;
  }
  // Latency to a user region; +infinity when the site lists none for it.
  double latency_ms(std::string_view user_region) const {
    for (const auto& l : latency)
      if (l.region == user_region) return l.ms;
    return std::numeric_limits<double>::infinity();
  }
  // Whether an endpoint here serves `model` by that name (live dispatch).
  bool endpoint_serves(std::string_view model) const {
    for (const auto& e : endpoints)
      if (e.serves(model)) return true;
    return false;
  }
  int accelerator_count(AcceleratorKind kind) const {
    int n = 0;
    for (const auto& p : accelerators)
      if (p.kind == kind) n += p.count;
    return n;
  }
};

// "`model` may run only on `clouds` between from and until" (an exclusivity contract). Outside
// [from, until) the rule does not apply. Several rules for one model: a site must satisfy every
// rule in force.
struct PlacementRule {
  std::string model;
  std::vector<std::string> clouds;
  double from_unix_s = -std::numeric_limits<double>::infinity();
  double until_unix_s = std::numeric_limits<double>::infinity();
};

// Whether the rules allow `model` on `site` at time t. Models without rules run anywhere.
bool placement_allowed(std::span<const PlacementRule> rules, const Site& site, std::string_view model,
                       double unix_s);

}  // namespace tokengrid::grid
