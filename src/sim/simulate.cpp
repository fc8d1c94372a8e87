#include "sim/simulate.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "sim/report_html.h"

namespace tokengrid::sim {

namespace {
// Each replica holds a few kilobytes and is stepped every simulated second.
constexpr int64_t kMaxRequestLevelReplicas = 20000;
// About an hour of wall time at a million requests per second of simulation.
constexpr double kMaxRequestLevelRequests = 1e9;
}  // namespace

Result<std::vector<SimResult>> simulate(const Scenario& scenario, const SimulateOptions& options) {
  Result<SimulateOutput> out = simulate_with_curves(scenario, options);
  if (!out) return out.status();
  return std::move(out->results);
}

Result<SimulateOutput> simulate_with_curves(const Scenario& scenario, const SimulateOptions& options) {
  if (options.policies.empty()) return invalid_argument("name at least one policy");
  std::vector<std::unique_ptr<grid::Policy>> policies;
  for (const std::string& name : options.policies) {
    Result<std::unique_ptr<grid::Policy>> p = grid::make_policy(name, scenario.policy);
    if (!p) return p.status();
    policies.push_back(std::move(p).value());
  }
  TG_ASSIGN_OR_RETURN(SimContext ctx, SimContext::create(scenario));
  if (scenario.mode == SimMode::kRequest) {
    int64_t replicas = 0;
    for (size_t s = 0; s < ctx.sites(); ++s) replicas += ctx.deployment(s).max_replicas;
    if (replicas > kMaxRequestLevelReplicas)
      return invalid_argument(scenario.file + ": " + std::to_string(replicas) +
                              " replicas are too many to simulate request by request (at most " +
                              std::to_string(kMaxRequestLevelReplicas) + "); use mode: fleet (or --mode fleet)");
    const double requests = scenario.workload.rate_rps * 3600.0 * scenario.horizon_hours;
    if (requests > kMaxRequestLevelRequests)
      return invalid_argument(scenario.file + ": about " + std::to_string(static_cast<int64_t>(requests)) +
                              " requests are too many to simulate one by one (at most 1e9); use mode: fleet "
                              "(or --mode fleet), or fewer --hours");
  }
  // Both modes admit work to a site up to the load at which its requests still meet the SLO
  // (the curve's SLO-safe point), so both need the curves.
  CurveOptions co = options.curves;
  co.seed = scenario.seed;
  FleetCurves curves = measure_fleet_curves(ctx, co);
  std::vector<double> admissible, outstanding;
  for (const auto& c : curves.by_site) {
    admissible.push_back(c ? c->slo_safe_rps : 0.0);
    outstanding.push_back(c ? c->slo_safe_outstanding : 0.0);
  }
  ctx.set_admissible_rps(std::move(admissible));
  ctx.set_admissible_outstanding(std::move(outstanding));
  RunOptions run;
  run.progress = options.progress;
  SimulateOutput out;
  std::vector<SimResult>& results = out.results;
  for (size_t i = 0; i < policies.size(); ++i) {
    Result<SimResult> r = scenario.mode == SimMode::kFleet ? run_fleet_level(ctx, *policies[i], curves, run)
                                                           : run_request_level(ctx, *policies[i], run);
    if (!r) return r.status();
    r->policy = options.policies[i];
    results.push_back(std::move(r).value());
  }
  out.curves = std::move(curves);
  return out;
}

std::string compare_table(const std::vector<SimResult>& results) {
  const SimResult* base = nullptr;
  for (const SimResult& r : results)
    if (r.policy == "latency-first") base = &r;
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-18s %14s %11s %10s %8s %15s %17s %9s %9s %9s\n", "policy", "cost USD",
                "energy MWh", "carbon t", "SLO %", "TTFT p50/p99 s", "TPOT p50/p99 ms", "cost vs", "energy vs", "CO2 vs");
  out += buf;
  for (const SimResult& r : results) {
    const SiteHourRow t = r.total();
    std::string dc = "-", de = "-", dg = "-";
    if (base && base != &r) {
      const SiteHourRow b = base->total();
      auto change = [](double now, double was) {
        if (was == 0) return std::string("-");
        char tmp[32];
        std::snprintf(tmp, sizeof tmp, "%+.1f%%", 100 * (now - was) / std::abs(was));
        return std::string(tmp);
      };
      dc = change(t.cost_usd, b.cost_usd);
      de = change(t.facility_kwh, b.facility_kwh);
      dg = change(t.carbon_kg, b.carbon_kg);
    }
    char lat[64], tpot[64];
    std::snprintf(lat, sizeof lat, "%.2f/%.2f", r.ttft.quantile(0.5), r.ttft.quantile(0.99));
    std::snprintf(tpot, sizeof tpot, "%.1f/%.1f", 1000 * r.tpot.quantile(0.5), 1000 * r.tpot.quantile(0.99));
    std::snprintf(buf, sizeof buf, "%-18s %14.0f %11.2f %10.2f %8.2f %15s %17s %9s %9s %9s\n", r.policy.c_str(),
                  t.cost_usd, t.facility_kwh / 1000, t.carbon_kg / 1000, 100 * r.attainment(), lat, tpot, dc.c_str(),
                  de.c_str(), dg.c_str());
    out += buf;
  }
  if (base) out += "(cost, energy and CO2 vs: change against latency-first)\n";
  return out;
}

Status write_outputs(const std::string& dir, const Scenario& scenario, const SimulateOutput& output) {
  const std::vector<SimResult>& results = output.results;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create the output directory: " + ec.message());
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    const std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out) return io_error(path + ": cannot write the file");
    return Status::ok();
  };
  for (const SimResult& r : results) {
    TG_RETURN_IF_ERROR(write("summary-" + r.policy + ".json", summary_json(r, scenario)));
    TG_RETURN_IF_ERROR(write("timeseries-" + r.policy + ".csv", timeseries_csv(r)));
  }
  std::set<std::string> written;
  for (size_t s = 0; s < output.curves.by_site.size() && s < scenario.sites.size(); ++s) {
    const grid::ModelReplicas* m = scenario.sites[s].find_model(scenario.model);
    if (!output.curves.by_site[s] || !m) continue;
    const std::string deployment = scenario.model + "-" +
                                   std::string(grid::accelerator_spec(m->accelerator).name) + "-tp" +
                                   std::to_string(m->tensor_parallel);
    if (!written.insert(deployment).second) continue;
    TG_RETURN_IF_ERROR(write("curve-" + deployment + ".json", load_curve_json(*output.curves.by_site[s], deployment)));
  }
  return write("report.html", report_html(scenario, results));
}

}  // namespace tokengrid::sim
