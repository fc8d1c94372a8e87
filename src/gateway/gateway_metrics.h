// GatewayMetrics: the gateway's Prometheus series, every one labelled with the replica.
//
//   tokengrid_gateway_requests_total{replica,route,site,status}
//   tokengrid_gateway_prompt_tokens_total / _completion_tokens_total{replica,site,zone,key}
//   tokengrid_gateway_it_energy_wh_total / _facility_energy_wh_total{replica,site,zone,key}
//   tokengrid_gateway_cost_usd_total / _carbon_g_total{replica,site,zone,key}
//   tokengrid_gateway_ttft_seconds{replica,site} (histogram)
//   tokengrid_gateway_limit_refusals_total{replica,key,limit}
//   tokengrid_gateway_site_* gauges{replica,site}: healthy, draining, outstanding_requests,
//     facility_kw, power_cap_kw, pue, price_usd_per_mwh, carbon_g_per_kwh (set at each scrape)
//   with a shared store (shared_store.h), in the same registry: tokengrid_gateway_store_up,
//     _store_failure_mode, _store_replicas, _store_errors_total, _store_fallbacks_total
//
// The energy, cost and carbon counters add exactly what the usage ledger records, so their
// sums equal the ledger's.
#pragma once

#include <string>
#include <vector>

#include "gateway/live_grid.h"
#include "gateway/usage_record.h"
#include "http/metrics.h"

namespace tokengrid::gateway {

class GatewayMetrics {
 public:
  explicit GatewayMetrics(std::string replica);

  // A request answered with a status, whichever site (or none: "") took it.
  void answered(const std::string& route, const std::string& site, int status);
  // A metered request, as its ledger row.
  void metered(const UsageRecord& record);
  void first_token(const std::string& site, double ttft_s);
  void limit_refused(const std::string& key, const std::string& limit);
  // Sets the site gauges; called just before rendering.
  void observe_sites(const std::vector<SiteStatus>& sites);

  std::string render() const { return registry_.render(); }
  http::MetricsRegistry& registry() { return registry_; }

 private:
  std::string replica_;
  http::MetricsRegistry registry_;
  http::Family<http::Counter>& requests_;
  http::Family<http::Counter>& prompt_tokens_;
  http::Family<http::Counter>& completion_tokens_;
  http::Family<http::Counter>& it_wh_;
  http::Family<http::Counter>& facility_wh_;
  http::Family<http::Counter>& usd_;
  http::Family<http::Counter>& g_co2e_;
  http::Family<http::Histogram>& ttft_;
  http::Family<http::Counter>& limit_refusals_;
  http::Family<http::Gauge>& healthy_;
  http::Family<http::Gauge>& draining_;
  http::Family<http::Gauge>& outstanding_;
  http::Family<http::Gauge>& facility_kw_;
  http::Family<http::Gauge>& cap_kw_;
  http::Family<http::Gauge>& pue_;
  http::Family<http::Gauge>& price_;
  http::Family<http::Gauge>& carbon_;
};

}  // namespace tokengrid::gateway
