#include "gateway/gateway_metrics.h"

namespace tokengrid::gateway {
namespace {

const std::vector<std::string> kByUsage = {"replica", "site", "zone", "key"};
const std::vector<std::string> kBySite = {"replica", "site"};

}  // namespace

GatewayMetrics::GatewayMetrics(std::string replica)
    : replica_(std::move(replica)),
      requests_(registry_.counter("tokengrid_gateway_requests_total", "Requests answered, by route, site and status.",
                                  {"replica", "route", "site", "status"})),
      prompt_tokens_(registry_.counter("tokengrid_gateway_prompt_tokens_total", "Prompt tokens of metered requests.", kByUsage)),
      completion_tokens_(registry_.counter("tokengrid_gateway_completion_tokens_total",
                                           "Generated tokens of metered requests.", kByUsage)),
      it_wh_(registry_.counter("tokengrid_gateway_it_energy_wh_total", "IT energy of metered requests (Wh).", kByUsage)),
      facility_wh_(registry_.counter("tokengrid_gateway_facility_energy_wh_total",
                                     "Facility energy of metered requests, IT energy x PUE (Wh).", kByUsage)),
      usd_(registry_.counter("tokengrid_gateway_cost_usd_total", "Energy cost of metered requests (USD).", kByUsage)),
      g_co2e_(registry_.counter("tokengrid_gateway_carbon_g_total", "Carbon of metered requests (gCO2e).", kByUsage)),
      ttft_(registry_.histogram("tokengrid_gateway_ttft_seconds", "Time to first token at the gateway.",
                                http::latency_buckets_seconds(), kBySite)),
      limit_refusals_(registry_.counter("tokengrid_gateway_limit_refusals_total", "Requests refused over a key's limit.",
                                        {"replica", "key", "limit"})),
      healthy_(registry_.gauge("tokengrid_gateway_site_healthy", "1 when some endpoint of the site answers.", kBySite)),
      draining_(registry_.gauge("tokengrid_gateway_site_draining", "1 while the zone asks loads to shed.", kBySite)),
      outstanding_(registry_.gauge("tokengrid_gateway_site_outstanding_requests", "Requests in flight at the site.", kBySite)),
      facility_kw_(registry_.gauge("tokengrid_gateway_site_facility_kw", "Estimated facility draw (kW).", kBySite)),
      cap_kw_(registry_.gauge("tokengrid_gateway_site_power_cap_kw", "Power cap (kW); 0: none.", kBySite)),
      pue_(registry_.gauge("tokengrid_gateway_site_pue", "PUE at the zone's temperature now.", kBySite)),
      price_(registry_.gauge("tokengrid_gateway_site_price_usd_per_mwh", "Effective energy price now.", kBySite)),
      carbon_(registry_.gauge("tokengrid_gateway_site_carbon_g_per_kwh", "Carbon intensity of the zone now.", kBySite)) {}

void GatewayMetrics::answered(const std::string& route, const std::string& site, int status) {
  requests_.with({replica_, route, site, std::to_string(status)}).add();
}

void GatewayMetrics::metered(const UsageRecord& r) {
  const std::vector<std::string> labels = {replica_, r.site, r.zone, r.key};
  prompt_tokens_.with(labels).add(static_cast<double>(r.prompt_tokens));
  completion_tokens_.with(labels).add(static_cast<double>(r.completion_tokens));
  it_wh_.with(labels).add(r.it_wh);
  facility_wh_.with(labels).add(r.facility_wh);
  usd_.with(labels).add(r.usd);
  g_co2e_.with(labels).add(r.g_co2e);
}

void GatewayMetrics::first_token(const std::string& site, double ttft_s) { ttft_.with({replica_, site}).observe(ttft_s); }

void GatewayMetrics::limit_refused(const std::string& key, const std::string& limit) {
  limit_refusals_.with({replica_, key, limit}).add();
}

void GatewayMetrics::observe_sites(const std::vector<SiteStatus>& sites) {
  for (const SiteStatus& s : sites) {
    const std::vector<std::string> labels = {replica_, s.name};
    healthy_.with(labels).set(s.healthy ? 1 : 0);
    draining_.with(labels).set(s.draining ? 1 : 0);
    outstanding_.with(labels).set(s.outstanding_requests);
    facility_kw_.with(labels).set(s.facility_kw);
    cap_kw_.with(labels).set(s.power_cap_kw);
    pue_.with(labels).set(s.pue);
    price_.with(labels).set(s.price_usd_per_mwh);
    carbon_.with(labels).set(s.signal.carbon_g_per_kwh);
  }
}

}  // namespace tokengrid::gateway
