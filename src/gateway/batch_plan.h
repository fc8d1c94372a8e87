// BatchPlan: when and where a batch's requests should run within its completion window, from
// the grid's day-ahead view of every site's price and carbon hour by hour.
//
// The window is cut into slots (the rest of this hour, whole hours, the rest of the last).
// Each slot offers a cell per site that may run the model then (healthy, allowed, not asked to
// shed), with what one of the batch's requests would cost (USD and gCO2e, at the hour's price,
// carbon and PUE) and how many batch requests the site can take in the slot. The plan fills
// cells in order of the balanced objective, USD + carbon price x tonnes CO2e (the grid's
// PolicyParams), cheapest first, earlier first among equals: the same greedy rule the simulator
// uses to shift deferrable work (sim_context.h). Requests no cell has room for are put in the
// first slot: they run at once, as fast as the grid allows.
//
// "At once" is the same fill in time order (each slot full before the next, cheapest site
// first within a slot): what running the batch on arrival would cost. A plan made without
// shifting is that plan. Pure functions: the caller brings the forecast and the capacities.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {

// One site during one slot.
struct PlanCell {
  int site = 0;
  double usd_per_request = 0;
  double g_per_request = 0;
  double wh_per_request = 0;  // facility energy
  double capacity = 0;        // batch requests it can run in the slot
};

struct PlanSlot {
  double start_unix_s = 0;
  double end_unix_s = 0;
  std::vector<PlanCell> cells;  // the sites that may run the batch then
};

struct PlanFigures {
  int64_t requests = 0;
  double usd = 0, g_co2e = 0, facility_wh = 0;
};

struct SlotPlan {
  double start_unix_s = 0;
  double end_unix_s = 0;
  int64_t requests = 0;
  std::vector<std::pair<int, int64_t>> sites;  // (site, requests), cheapest first
};

struct BatchPlan {
  std::vector<SlotPlan> slots;  // in time order, only those given requests
  PlanFigures expected;         // of this plan
  PlanFigures at_once;          // of running every request on arrival
  int64_t over_capacity = 0;    // requests no slot had room for (counted in the first slot)
};

// Plans `requests` over `slots` (in time order); `shift` false plans them at once.
BatchPlan plan_batch(std::span<const PlanSlot> slots, int64_t requests, double carbon_price_usd_per_t, bool shift);

// The slots of a window: [now, next hour), whole hours, [last hour, end).
std::vector<std::pair<double, double>> window_slots(double now_unix_s, double end_unix_s);

// The plan as the batch object and /v1/grid show it; `site_names` names the sites.
nlohmann::json plan_json(const BatchPlan& plan, const std::vector<std::string>& site_names);
nlohmann::json figures_json(const PlanFigures& figures);

}  // namespace tokengrid::gateway
