// The capacity and contract planner: how much capacity to build where, and under which energy
// contracts, to serve a demand forecast over a horizon of years at the lowest total cost.
//
// The optimisation is a documented greedy heuristic, not an LP:
//  1. Capacity, period by period (quarters by default): each region's forecast demand (plus a
//     reserve) is served first from capacity already built at sites within the region's latency
//     limit, cheapest marginal energy first (merit order); any shortfall is built at the site
//     with the lowest levelised cost per token/s (capex spread over the remaining horizon plus
//     energy at its best contract) among the sites that are online by then (build time, the
//     year a site becomes available) and below their size limit. Capacity is never retired.
//  2. Dispatch: every period's served load goes to built capacity in merit order, as in 1.
//  3. Contracts, per site, exhaustively over a small grid: spot, or each PPA option with a
//     share of 0.25, 0.5, 0.75 or 1 of the site's expected energy contracted take-or-pay (paid
//     whether used or not; energy above the volume is bought at spot). The choice minimises the
//     mean cost over three demand outcomes (forecast x 0.8, 1, 1.2).
// Sites marked `announced: false` (e.g. a hydro region whose grid connection comes through
// mid-horizon) are unknown when contracts are signed: contracts are chosen on the dispatch
// expected without them, and then paid on the dispatch that happens once they arrive. The
// regret of fixed-price contracts is that plan's cost minus the cost with contracts chosen in
// hindsight, and minus the cost on spot alone. Stranded capacity is built capacity the
// dispatch leaves idle beyond the reserve. Costs are undiscounted USD; energy prices are each
// zone's mean 2024 hourly price (the signals replayed as a typical year).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace tokengrid::sim {

struct ContractOption {
  std::string name;
  double ppa_price_usd_per_mwh = 0;
};

struct PlanSite {
  std::string name;
  std::string zone;
  double build_months = 12;     // from the start of the horizon to first capacity online
  double available_year = 0;    // years from the start before which nothing can be online
  bool announced = true;        // known when contracts are signed
  double capex_usd_per_mw = 0;  // per MW of IT capacity: building, power, servers
  double max_mw = 1e9;
  double existing_mw = 0;
  double pue = 1.2;
  double spot_usd_per_mwh = 0;  // mean price of the zone (filled from signals when absent)
  double carbon_g_per_kwh = 0;
  std::map<std::string, double> latency_ms;
  std::vector<ContractOption> contracts;  // besides spot
};

struct PlanRegion {
  std::string name;
  std::vector<double> rps_by_year;  // mean requests/s at each year's start; linear in between
};

struct PlannerInput {
  std::string name;
  int years = 5;
  int periods_per_year = 4;
  double reserve = 0.15;               // capacity above forecast demand
  double max_latency_ms = 100;         // one way, region to site
  double tokens_per_request = 250;     // output tokens (from the trace when given)
  double mw_per_token_s = 0;           // IT MW per output token/s at saturation (from the perf model)
  double idle_fraction = 0.1;          // IT draw of idle capacity, share of full draw
  double target_utilization = 0.6;     // load at which capacity is considered full
  double carbon_price_usd_per_t = 0;   // added to energy costs in all choices
  std::vector<PlanSite> sites;
  std::vector<PlanRegion> regions;
};

struct SitePlan {
  std::string name;
  std::vector<double> mw;            // built by period
  std::vector<double> served_mw;     // IT MW needed for the load served, by period
  std::string contract = "spot";
  double ppa_share = 0;
  double capex_usd = 0, energy_mwh = 0, energy_usd = 0, carbon_t = 0;
  double stranded_mw_years = 0;      // built beyond load + reserve
  double peak_stranded_mw = 0;
};

struct PlanCosts {
  double capex_usd = 0, energy_usd = 0, carbon_usd = 0;
  double total() const { return capex_usd + energy_usd + carbon_usd; }
};

struct PlanResult {
  std::vector<SitePlan> sites;
  int periods = 0;
  double unmet_token_s_years = 0;   // demand no eligible site could take
  PlanCosts costs;                  // the plan: contracts signed without unannounced sites
  PlanCosts hindsight;              // contracts chosen knowing every site
  PlanCosts spot_only;              // no fixed-price contracts
  double carbon_t = 0;
  double regret_vs_hindsight_usd() const { return costs.total() - hindsight.total(); }
  double regret_vs_spot_usd() const { return costs.total() - spot_only.total(); }
};

Result<PlanResult> make_plan(const PlannerInput& input);

// Reads a planner YAML file (see scenarios/planner-2025.yaml); errors name file, line and field.
Result<PlannerInput> load_planner_input(const std::string& path);
Result<PlannerInput> parse_planner_input(const std::string& yaml_text, const std::string& file);

std::string plan_table(const PlannerInput& input, const PlanResult& result);
std::string plan_json(const PlannerInput& input, const PlanResult& result);

}  // namespace tokengrid::sim
