#include "sim/sim_result.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "grid/clock.h"

namespace tokengrid::sim {

namespace {
// Rounds to 6 significant digits so that printing is stable and readable.
double r6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

void add_row(SiteHourRow& into, const SiteHourRow& r) {
  into.requests += r.requests;
  into.output_tokens += r.output_tokens;
  into.it_kwh += r.it_kwh;
  into.facility_kwh += r.facility_kwh;
  into.cost_usd += r.cost_usd;
  into.carbon_kg += r.carbon_kg;
  into.gpu_hours += r.gpu_hours;
  into.work_gpu_hours += r.work_gpu_hours;
}
}  // namespace

SiteHourRow SimResult::site_total(size_t site) const {
  SiteHourRow t;
  for (int h = 0; h < hours; ++h) add_row(t, row(site, h));
  return t;
}

SiteHourRow SimResult::total() const {
  SiteHourRow t;
  for (const SiteHourRow& r : rows) add_row(t, r);
  return t;
}

SimResult SimResult::empty(const Scenario& scenario, std::string policy, SimMode mode) {
  SimResult result;
  result.policy = std::move(policy);
  result.mode = mode;
  result.hours = scenario.horizon_hours;
  result.start_unix_s = scenario.start_unix_s;
  result.rows.resize(scenario.sites.size() * static_cast<size_t>(scenario.horizon_hours));
  for (const grid::Site& site : scenario.sites) result.site_names.push_back(site.name);
  return result;
}

std::string summary_json(const SimResult& r, const Scenario& s) {
  const SiteHourRow t = r.total();
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["policy"] = r.policy;
  j["mode"] = r.mode == SimMode::kRequest ? "request" : "fleet";
  j["start"] = grid::format_utc_hour(r.start_unix_s);
  j["hours"] = r.hours;
  j["seed"] = s.seed;
  j["cost_usd"] = r6(t.cost_usd);
  j["carbon_cost_usd"] = r6(t.carbon_kg / 1000.0 * s.policy.carbon_price_usd_per_t);
  j["energy_mwh"] = r6(t.facility_kwh / 1000.0);
  j["it_energy_mwh"] = r6(t.it_kwh / 1000.0);
  j["carbon_t"] = r6(t.carbon_kg / 1000.0);
  j["requests"] = r6(r.requests);
  j["completed"] = r6(r.completed);
  j["unserved"] = r6(r.unserved);
  j["deferred"] = r6(r.deferred);
  j["preemptions"] = r6(r.preemptions);
  j["prefix_hit_tokens"] = r6(r.prefix_hit_tokens);
  j["slo"] = {{"ttft_s", s.slo.ttft_s}, {"tpot_s", s.slo.tpot_s}};
  j["slo_attainment"] = r6(r.attainment());
  j["ttft_s"] = {{"p50", r6(r.ttft.quantile(0.5))}, {"p90", r6(r.ttft.quantile(0.9))}, {"p99", r6(r.ttft.quantile(0.99))}};
  j["tpot_s"] = {{"p50", r6(r.tpot.quantile(0.5))}, {"p90", r6(r.tpot.quantile(0.9))}, {"p99", r6(r.tpot.quantile(0.99))}};
  const double seconds = r.hours * 3600.0;
  j["throughput"] = {{"requests_per_s", r6(r.completed / seconds)},
                     {"output_tokens_per_s", r6(r.output_tokens / seconds)},
                     {"input_tokens_per_s", r6(r.input_tokens / seconds)}};
  j["utilization"] = r6(t.gpu_hours > 0 ? t.work_gpu_hours / t.gpu_hours : 0);
  j["gpu_hours"] = r6(t.gpu_hours);
  j["surplus_gpu_hours"] = r6(t.gpu_hours - t.work_gpu_hours);
  j["usd_per_million_output_tokens"] = r6(r.output_tokens > 0 ? t.cost_usd / r.output_tokens * 1e6 : 0);
  nlohmann::ordered_json sites = nlohmann::ordered_json::array();
  for (size_t i = 0; i < r.site_names.size(); ++i) {
    const SiteHourRow st = r.site_total(i);
    sites.push_back({{"site", r.site_names[i]},
                     {"request_share", r6(t.requests > 0 ? st.requests / t.requests : 0)},
                     {"requests", r6(st.requests)},
                     {"energy_mwh", r6(st.facility_kwh / 1000.0)},
                     {"cost_usd", r6(st.cost_usd)},
                     {"carbon_t", r6(st.carbon_kg / 1000.0)},
                     {"gpu_hours", r6(st.gpu_hours)},
                     {"utilization", r6(st.gpu_hours > 0 ? st.work_gpu_hours / st.gpu_hours : 0)}});
  }
  j["sites"] = sites;
  return j.dump(2) + "\n";
}

std::string timeseries_csv(const SimResult& r) {
  std::string out =
      "utc_hour,site,requests,output_tokens,active_replicas,gpu_hours,work_gpu_hours,it_kwh,facility_kwh,pue,"
      "price_usd_per_mwh,carbon_g_per_kwh,cost_usd,carbon_kg\n";
  char buf[512];
  for (int h = 0; h < r.hours; ++h) {
    const std::string hour = grid::format_utc_hour(r.start_unix_s + h * 3600.0);
    for (size_t s = 0; s < r.site_names.size(); ++s) {
      const SiteHourRow& x = r.row(s, h);
      std::snprintf(buf, sizeof buf, "%s,%s,%.6g,%.6g,%d,%.6g,%.6g,%.6g,%.6g,%.4f,%.2f,%.1f,%.6g,%.6g\n", hour.c_str(),
                    r.site_names[s].c_str(), x.requests, x.output_tokens, x.active_replicas, x.gpu_hours,
                    x.work_gpu_hours, x.it_kwh, x.facility_kwh, x.pue, x.price_usd_per_mwh, x.carbon_g_per_kwh,
                    x.cost_usd, x.carbon_kg);
      out += buf;
    }
  }
  return out;
}

}  // namespace tokengrid::sim
