#include "grid/meter.h"

#include <algorithm>

namespace tokengrid::grid {

double Meter::prefill_joules_per_token(double chunk_tokens) const {
  const double chunk = std::max(chunk_tokens, 1.0);
  IterationBatch b;
  b.add_prefill_chunk(chunk, 0);
  return model_.iteration_cost(b).joules / chunk;
}

double Meter::decode_joules_per_token(double batch, double mean_context) const {
  const double n = std::max(batch, 1.0);
  IterationBatch b;
  b.decode_seqs = n;
  b.decode_context = n * std::max(mean_context, 0.0);
  return model_.iteration_cost(b).joules / n;
}

double Meter::request_joules(double prompt_tokens, double output_tokens, double batch) const {
  double joules = 0;
  if (prompt_tokens > 0) joules += prompt_tokens * prefill_joules_per_token(prompt_tokens);
  if (output_tokens > 0)
    joules += output_tokens * decode_joules_per_token(batch, std::max(prompt_tokens, 0.0) + output_tokens / 2);
  return joules;
}

double usd_per_it_joule(const Site& site, const SignalSample& signal) {
  // J -> MWh: / 3.6e9.
  return site.pue.at(signal.temp_c) * site.contract.price(signal.price_usd_per_mwh) / 3.6e9;
}

double g_co2e_per_it_joule(const Site& site, const SignalSample& signal) {
  // J -> kWh: / 3.6e6.
  return site.pue.at(signal.temp_c) * signal.carbon_g_per_kwh / 3.6e6;
}

Footprint footprint(double it_joules, const Site& site, const SignalSample& signal) {
  Footprint f;
  f.wh = it_joules * site.pue.at(signal.temp_c) / 3600.0;
  f.usd = it_joules * usd_per_it_joule(site, signal);
  f.g_co2e = it_joules * g_co2e_per_it_joule(site, signal);
  return f;
}

}  // namespace tokengrid::grid
