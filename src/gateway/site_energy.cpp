#include "gateway/site_energy.h"

#include <algorithm>

#include "grid/model_shape.h"
#include "grid/perf_model.h"

namespace tokengrid::gateway {
namespace {

// Context assumed for decode energy when the gateway cannot see the sequences' lengths.
constexpr double kTypicalContext = 1024;

int cpu_cores(const grid::Site& site) {
  if (site.cpu_power.cores > 0) return site.cpu_power.cores;
  return std::max(1, site.accelerator_count(grid::AcceleratorKind::kCpuServer));
}

}  // namespace

Result<SiteEnergy> SiteEnergy::create(const grid::Site& site) {
  SiteEnergy e;
  for (const grid::ModelReplicas& r : site.models) {
    auto shape = grid::model_shape(r.model);
    if (!shape) return shape.status();
    auto perf = grid::PerfModel::create({*shape, r.accelerator, r.tensor_parallel});
    if (!perf) return invalid_argument("site '" + site.name + "': " + perf.status().message());
    e.meters_.emplace(r.model, grid::Meter(std::move(perf).value()));
  }
  double concurrency = 0;
  for (const auto& endpoint : site.endpoints) concurrency += endpoint.max_concurrency;
  e.concurrency_ = std::max(1.0, concurrency);
  e.cpu_ = site.accelerator_count(grid::AcceleratorKind::kCpuServer) > 0;
  if (e.cpu_) {
    const int cores = cpu_cores(site);
    e.idle_w_ = site.cpu_power.idle_w;
    e.busy_w_ = site.cpu_power.watts(cores);
    return e;
  }
  for (const grid::AcceleratorPool& pool : site.accelerators) {
    const grid::AcceleratorSpec& spec = grid::accelerator_spec(pool.kind);
    e.idle_w_ += spec.idle_w * pool.count;
    e.busy_w_ += spec.decode_w * pool.count;
  }
  return e;
}

const grid::Meter* SiteEnergy::meter_for(std::string_view model) const {
  // Asked for every site of every request: a site without models to meter needs no parse of the name.
  if (meters_.empty()) return nullptr;
  auto shape = grid::model_shape(model);
  if (!shape) return nullptr;
  auto it = meters_.find(shape->name);
  return it == meters_.end() ? nullptr : &it->second;
}

EnergyRates SiteEnergy::rates(std::string_view model, const Observed& observed) const {
  if (const grid::Meter* meter = meter_for(model)) {
    const double typical_batch = std::max(1.0, concurrency_ / 2);
    return {meter->prefill_joules_per_token(), meter->decode_joules_per_token(typical_batch, kTypicalContext)};
  }
  EnergyRates r;
  if (observed.prefill_tokens_per_s > 0) r.prefill_j_per_token = busy_w_ / observed.prefill_tokens_per_s;
  const double capacity = observed.stream_decode_tokens_per_s * concurrency_;
  if (capacity > 0) r.decode_j_per_token = busy_w_ / capacity;
  return r;
}

std::string hardware_class(const grid::Site& site) {
  std::string key;
  for (const grid::AcceleratorPool& pool : site.accelerators)
    key += std::string(grid::accelerator_spec(pool.kind).name) + "x" + std::to_string(pool.count) + ";";
  if (site.accelerator_count(grid::AcceleratorKind::kCpuServer) > 0) {
    key += "cpu:" + std::to_string(site.cpu_power.idle_w) + "," + std::to_string(site.cpu_power.busy_core_w) + "," +
           std::to_string(site.cpu_power.cores);
  }
  return key;
}

double SiteEnergy::it_watts(double outstanding) const {
  const double utilisation = std::clamp(outstanding / concurrency_, 0.0, 1.0);
  return idle_w_ + (busy_w_ - idle_w_) * utilisation;
}

RequestFootprint& RequestFootprint::operator+=(const RequestFootprint& o) {
  // Intensities become energy-weighted means of both parts.
  const double total = facility_wh + o.facility_wh;
  if (total > 0) {
    pue = (pue * facility_wh + o.pue * o.facility_wh) / total;
    price_usd_per_mwh = (price_usd_per_mwh * facility_wh + o.price_usd_per_mwh * o.facility_wh) / total;
    carbon_g_per_kwh = (carbon_g_per_kwh * facility_wh + o.carbon_g_per_kwh * o.facility_wh) / total;
  }
  it_wh += o.it_wh;
  facility_wh = total;
  usd += o.usd;
  g_co2e += o.g_co2e;
  return *this;
}

RequestFootprint meter_request(const grid::Site& site, const EnergyRates& rates, const grid::SignalSample& signal,
                               double uncached_prompt_tokens, double completion_tokens) {
  const double it_joules = std::max(0.0, uncached_prompt_tokens) * rates.prefill_j_per_token +
                           std::max(0.0, completion_tokens) * rates.decode_j_per_token;
  const grid::Footprint f = grid::footprint(it_joules, site, signal);
  RequestFootprint r;
  r.it_wh = it_joules / 3600.0;
  r.facility_wh = f.wh;
  r.usd = f.usd;
  r.g_co2e = f.g_co2e;
  r.pue = site.pue.at(signal.temp_c);
  r.price_usd_per_mwh = site.contract.price(signal.price_usd_per_mwh);
  r.carbon_g_per_kwh = signal.carbon_g_per_kwh;
  return r;
}

}  // namespace tokengrid::gateway
