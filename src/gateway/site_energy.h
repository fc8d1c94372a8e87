// SiteEnergy: a live site's IT energy per token and its estimated power draw, from what the
// gateway knows about it now.
//
// Two cases:
//   - A model the site lists under `models` (a known shape on a known accelerator): the grid's
//     meter, as in the simulator: prefill joules per token, and decode joules per token at a
//     typical batch (half the site's concurrency).
//   - Anything else (CPU workers, or a server of a model without a shape): the site's busy
//     power divided by the throughput the gateway observes there. Busy power is the CPU power
//     model at full use of the site's cores for cpu sites, or the accelerators' decode power.
//     J per prompt token = P_busy / prefill tokens/s; J per output token = P_busy / (one
//     stream's decode tokens/s x the site's concurrency): the energy per token of the site at
//     full use, a property of the site rather than of the moment, so that a policy comparing
//     sites compares their hardware, prices and carbon, not which one happens to be busy.
//     The throughput is pooled over the sites of one hardware class (hardware_class below):
//     a site's own measurements move with its load and with noise on shared machines, and
//     two identical sites ranked by them would trade traffic on noise instead of on price.
// Estimated IT draw: idle power plus the busy increment times utilisation (outstanding requests
// over the site's concurrency, at most 1). All functions are pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "grid/meter.h"
#include "grid/site.h"

namespace tokengrid::gateway {

// What the gateway has observed of a site's speed (smoothed) and load.
struct Observed {
  double prefill_tokens_per_s = 0;        // prompt tokens per second of prefill
  double stream_decode_tokens_per_s = 0;  // output tokens per second of one stream
  double outstanding = 0;                 // requests admitted and not finished
};

struct EnergyRates {
  double prefill_j_per_token = 0;
  double decode_j_per_token = 0;
};

class SiteEnergy {
 public:
  // Fails when a model listed at the site has no performance model on its accelerator.
  static Result<SiteEnergy> create(const grid::Site& site);

  // Joules per token for `model`.
  EnergyRates rates(std::string_view model, const Observed& observed) const;
  // IT watts with `outstanding` requests in flight.
  double it_watts(double outstanding) const;
  double idle_watts() const { return idle_w_; }
  double busy_watts() const { return busy_w_; }
  // Requests the site runs at once at full power (the sum over its endpoints).
  double concurrency() const { return concurrency_; }

 private:
  const grid::Meter* meter_for(std::string_view model) const;

  std::map<std::string, grid::Meter, std::less<>> meters_;  // by canonical model name
  double idle_w_ = 0;
  double busy_w_ = 0;
  double concurrency_ = 1;
  bool cpu_ = false;
};

// What makes two sites' energy per token the same: their accelerators and, for CPU sites,
// their power model. Sites of one class share their observed throughput in energy estimates.
std::string hardware_class(const grid::Site& site);

// One request's energy, cost and carbon at a site, and the figures they came from.
struct RequestFootprint {
  double it_wh = 0;        // at the servers
  double facility_wh = 0;  // it_wh x PUE
  double usd = 0;          // facility energy at the site's contract price
  double g_co2e = 0;       // facility energy at the zone's carbon intensity
  double pue = 1;
  double price_usd_per_mwh = 0;  // effective, under the contract
  double carbon_g_per_kwh = 0;
  RequestFootprint& operator+=(const RequestFootprint& o);
};

// IT joules = uncached prompt tokens x J/prompt token + output tokens x J/output token; then
// PUE at the zone's temperature, the contract's price and the zone's carbon intensity.
RequestFootprint meter_request(const grid::Site& site, const EnergyRates& rates, const grid::SignalSample& signal,
                               double uncached_prompt_tokens, double completion_tokens);

}  // namespace tokengrid::gateway
