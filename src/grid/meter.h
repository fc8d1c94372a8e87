// The meter: turns tokens served into energy, cost and carbon.
//
// A Meter belongs to one deployment (model on an accelerator with its tensor parallelism) and
// knows, from the performance model and the power drawn by phase, the IT joules per prefilled
// token and per decoded token at a batch size, and the idle draw. footprint() then applies the
// site's PUE at the outside temperature, its energy contract and the zone's carbon intensity.
// All functions are pure.
#pragma once

#include <utility>

#include "grid/perf_model.h"
#include "grid/signals.h"
#include "grid/site.h"

namespace tokengrid::grid {

// Facility energy, its cost and its emissions.
struct Footprint {
  double wh = 0;
  double usd = 0;
  double g_co2e = 0;
  Footprint& operator+=(const Footprint& o) {
    wh += o.wh;
    usd += o.usd;
    g_co2e += o.g_co2e;
    return *this;
  }
};

class Meter {
 public:
  explicit Meter(PerfModel model) : model_(std::move(model)) {}

  const PerfModel& perf_model() const { return model_; }

  // IT joules per prompt token when prompts are prefilled in chunks of `chunk_tokens`.
  double prefill_joules_per_token(double chunk_tokens = 2048) const;
  // IT joules per generated token when `batch` sequences of mean context `mean_context` decode
  // together.
  double decode_joules_per_token(double batch, double mean_context) const;
  // Draw of the replica's devices with no work.
  double idle_watts() const { return model_.idle_watts(); }
  // IT joules of one request: its prompt in one chunk, its output decoded in a batch of `batch`
  // at the mean context of its own generation.
  double request_joules(double prompt_tokens, double output_tokens, double batch) const;

 private:
  PerfModel model_;
};

// Facility footprint of `it_joules` consumed at `site` under `signal`: Wh = J / 3600 x PUE(temp);
// USD by the site's contract on the zone's spot price; gCO2e from the zone's intensity.
Footprint footprint(double it_joules, const Site& site, const SignalSample& signal);

// Marginal facility cost and carbon per IT joule (what policies compare between sites).
double usd_per_it_joule(const Site& site, const SignalSample& signal);
double g_co2e_per_it_joule(const Site& site, const SignalSample& signal);

}  // namespace tokengrid::grid
