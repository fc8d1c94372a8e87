#include "sim/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "grid/model_shape.h"
#include "grid/perf_model.h"
#include "grid/signals.h"
#include "sim/scenario.h"
#include "core/trace.h"

namespace tokengrid::sim {

namespace {

struct World {
  std::vector<std::vector<double>> mw;      // [site][period] built
  std::vector<std::vector<double>> served;  // [site][period] output tokens/s served
  double unmet = 0;                         // token/s x periods
};

double demand_at(const PlanRegion& r, double year) {
  const auto& v = r.rps_by_year;
  if (v.empty()) return 0;
  if (year <= 0) return v.front();
  const size_t i = static_cast<size_t>(year);
  if (i + 1 >= v.size()) return v.back();
  const double f = year - static_cast<double>(i);
  return v[i] * (1 - f) + v[i + 1] * f;
}

double price_with_carbon(const PlannerInput& in, const PlanSite& s) {
  return s.spot_usd_per_mwh + in.carbon_price_usd_per_t * s.carbon_g_per_kwh / 1000.0;
}

bool online(const PlanSite& s, double year) { return year + 1e-9 >= std::max(s.build_months / 12.0, s.available_year); }

// Capacity plan and dispatch over the horizon with the sites `visible` (see planner.h, steps 1-2).
World simulate_world(const PlannerInput& in, const std::vector<bool>& visible) {
  const size_t S = in.sites.size();
  const int P = in.years * in.periods_per_year;
  World w;
  w.mw.assign(S, std::vector<double>(static_cast<size_t>(P), 0.0));
  w.served.assign(S, std::vector<double>(static_cast<size_t>(P), 0.0));
  std::vector<double> built(S);
  for (size_t s = 0; s < S; ++s) built[s] = visible[s] ? in.sites[s].existing_mw : 0;
  // Merit order: marginal energy price per MWh at the facility.
  std::vector<size_t> merit(S);
  for (size_t s = 0; s < S; ++s) merit[s] = s;
  std::stable_sort(merit.begin(), merit.end(), [&](size_t a, size_t b) {
    return price_with_carbon(in, in.sites[a]) * in.sites[a].pue < price_with_carbon(in, in.sites[b]) * in.sites[b].pue;
  });
  std::vector<size_t> regions(in.regions.size());
  for (size_t r = 0; r < regions.size(); ++r) regions[r] = r;
  const double util = in.target_utilization;
  auto serviceable = [&](double mw) { return mw / in.mw_per_token_s * util; };
  auto eligible = [&](size_t s, size_t r, double year) {
    const PlanSite& site = in.sites[s];
    auto it = site.latency_ms.find(in.regions[r].name);
    return visible[s] && it != site.latency_ms.end() && it->second <= in.max_latency_ms &&
           (online(site, year) || site.existing_mw > 0);
  };
  for (int p = 0; p < P; ++p) {
    const double year = static_cast<double>(p) / in.periods_per_year;
    const double remaining_years = in.years - year;
    std::vector<double> demand(in.regions.size());
    for (size_t r = 0; r < in.regions.size(); ++r) demand[r] = demand_at(in.regions[r], year) * in.tokens_per_request;
    std::stable_sort(regions.begin(), regions.end(), [&](size_t a, size_t b) { return demand[a] > demand[b]; });
    // Build for demand plus reserve.
    std::vector<double> left(S);
    std::vector<std::vector<double>> served_by(S, std::vector<double>(in.regions.size(), 0.0));
    for (size_t s = 0; s < S; ++s) left[s] = serviceable(built[s]);
    for (size_t r : regions) {
      double need = demand[r] * (1 + in.reserve);
      for (size_t s : merit) {
        if (need <= 0) break;
        if (!eligible(s, r, year)) continue;
        const double take = std::min(need, left[s]);
        left[s] -= take;
        need -= take;
      }
      while (need > 1e-9) {
        size_t best = S;
        double best_cost = std::numeric_limits<double>::infinity();
        for (size_t s = 0; s < S; ++s) {
          const PlanSite& site = in.sites[s];
          if (!eligible(s, r, year) || !online(site, year) || built[s] >= site.max_mw - 1e-9) continue;
          const double mw_per_ts = in.mw_per_token_s / util;
          const double capex = site.capex_usd_per_mw * mw_per_ts / std::max(remaining_years, 0.25);
          const double energy = 8760.0 * site.pue * price_with_carbon(in, site) * in.mw_per_token_s *
                                (1 - in.idle_fraction + in.idle_fraction / util);
          if (capex + energy < best_cost) {
            best_cost = capex + energy;
            best = s;
          }
        }
        if (best == S) break;
        const double add_mw = std::min(need * in.mw_per_token_s / util, in.sites[best].max_mw - built[best]);
        built[best] += add_mw;
        const double add_ts = serviceable(add_mw);
        need -= add_ts;
      }
    }
    // Dispatch the forecast (without reserve) in merit order, up to the target utilisation
    // and, only where that does not suffice, up to saturation.
    for (double limit : {1.0, 1.0 / util}) {
      for (size_t s = 0; s < S; ++s) left[s] = serviceable(built[s]) * limit - w.served[s][static_cast<size_t>(p)];
      for (size_t r : regions) {
        double need = demand[r];
        for (size_t s = 0; s < S; ++s)
          if (eligible(s, r, year)) need -= served_by[s][r];
        for (size_t s : merit) {
          if (need <= 1e-12) break;
          if (!eligible(s, r, year)) continue;
          const double take = std::min(need, std::max(0.0, left[s]));
          left[s] -= take;
          need -= take;
          served_by[s][r] += take;
          w.served[s][static_cast<size_t>(p)] += take;
        }
        if (limit > 1.0) w.unmet += std::max(0.0, need);
      }
    }
    for (size_t s = 0; s < S; ++s) w.mw[s][static_cast<size_t>(p)] = built[s];
  }
  return w;
}

// Facility MWh per period of a site under a world.
std::vector<double> energy_mwh(const PlannerInput& in, const World& w, size_t s) {
  const size_t P = w.mw[s].size();
  const double hours = 8760.0 / in.periods_per_year;
  std::vector<double> e(P);
  for (size_t p = 0; p < P; ++p) {
    const double it_mw = w.mw[s][p] * in.idle_fraction + w.served[s][p] * in.mw_per_token_s * (1 - in.idle_fraction);
    e[p] = it_mw * in.sites[s].pue * hours;
  }
  return e;
}

struct Contract {
  int option = -1;  // -1: spot
  double share = 0;
};

double contract_cost(const PlanSite& site, const Contract& c, const std::vector<double>& planned,
                     const std::vector<double>& actual) {
  double cost = 0;
  for (size_t p = 0; p < actual.size(); ++p) {
    const double volume = c.option < 0 ? 0 : c.share * planned[p];
    const double ppa = c.option < 0 ? 0 : site.contracts[static_cast<size_t>(c.option)].ppa_price_usd_per_mwh;
    cost += ppa * volume + site.spot_usd_per_mwh * std::max(0.0, actual[p] - volume);
  }
  return cost;
}

Contract choose_contract(const PlanSite& site, const std::vector<double>& expected) {
  Contract best;
  double best_cost = 0;
  for (double f : {0.8, 1.0, 1.2}) {
    std::vector<double> outcome(expected);
    for (double& v : outcome) v *= f;
    best_cost += contract_cost(site, best, expected, outcome) / 3;
  }
  for (int o = 0; o < static_cast<int>(site.contracts.size()); ++o)
    for (double share : {0.25, 0.5, 0.75, 1.0}) {
      const Contract c{o, share};
      double cost = 0;
      for (double f : {0.8, 1.0, 1.2}) {
        std::vector<double> outcome(expected);
        for (double& v : outcome) v *= f;
        cost += contract_cost(site, c, expected, outcome) / 3;
      }
      if (cost < best_cost - 1e-6) {
        best_cost = cost;
        best = c;
      }
    }
  return best;
}

}  // namespace

Result<PlanResult> make_plan(const PlannerInput& in) {
  if (in.years < 1 || in.periods_per_year < 1) return invalid_argument("the horizon needs at least one year and period");
  if (!(in.mw_per_token_s > 0)) return invalid_argument("the deployment's MW per token/s must be positive");
  if (!(in.target_utilization > 0 && in.target_utilization <= 1))
    return invalid_argument("target_utilization must be in (0, 1]");
  if (in.sites.empty() || in.regions.empty()) return invalid_argument("a plan needs sites and regions");
  const size_t S = in.sites.size();
  const int P = in.years * in.periods_per_year;
  std::vector<bool> all(S, true), announced(S);
  for (size_t s = 0; s < S; ++s) announced[s] = in.sites[s].announced;
  const World real = simulate_world(in, all);
  const World expected = simulate_world(in, announced);

  PlanResult out;
  out.periods = P;
  out.unmet_token_s_years = real.unmet / in.periods_per_year;
  const double years_per_period = 1.0 / in.periods_per_year;
  for (size_t s = 0; s < S; ++s) {
    const PlanSite& site = in.sites[s];
    SitePlan sp;
    sp.name = site.name;
    sp.mw = real.mw[s];
    const std::vector<double> actual = energy_mwh(in, real, s);
    const std::vector<double> planned = site.announced ? energy_mwh(in, expected, s) : actual;
    const Contract signed_c = choose_contract(site, planned);
    const Contract hindsight_c = choose_contract(site, actual);
    sp.contract = signed_c.option < 0 ? "spot" : site.contracts[static_cast<size_t>(signed_c.option)].name;
    sp.ppa_share = signed_c.share;
    sp.capex_usd = (real.mw[s].back() - site.existing_mw) * site.capex_usd_per_mw;
    for (int p = 0; p < P; ++p) {
      const size_t pi = static_cast<size_t>(p);
      sp.served_mw.push_back(real.served[s][pi] * in.mw_per_token_s);
      sp.energy_mwh += actual[pi];
      const double needed = real.served[s][pi] * in.mw_per_token_s / in.target_utilization * (1 + in.reserve);
      const double stranded = std::max(0.0, real.mw[s][pi] - needed);
      sp.stranded_mw_years += stranded * years_per_period;
      sp.peak_stranded_mw = std::max(sp.peak_stranded_mw, stranded);
    }
    sp.energy_usd = contract_cost(site, signed_c, planned, actual);
    sp.carbon_t = sp.energy_mwh * site.carbon_g_per_kwh / 1000.0;
    const double carbon_usd = sp.carbon_t * in.carbon_price_usd_per_t;
    out.carbon_t += sp.carbon_t;
    out.costs.capex_usd += sp.capex_usd;
    out.costs.energy_usd += sp.energy_usd;
    out.costs.carbon_usd += carbon_usd;
    out.hindsight.capex_usd += sp.capex_usd;
    out.hindsight.energy_usd += contract_cost(site, hindsight_c, actual, actual);
    out.hindsight.carbon_usd += carbon_usd;
    out.spot_only.capex_usd += sp.capex_usd;
    out.spot_only.energy_usd += contract_cost(site, Contract{}, actual, actual);
    out.spot_only.carbon_usd += carbon_usd;
    out.sites.push_back(std::move(sp));
  }
  return out;
}

namespace {

// Reads a planner document section by section: the horizon, the deployment (whose performance
// model turns tokens into megawatts), the signals, the regions, the candidate sites.
class PlannerReader {
 public:
  PlannerReader(const YAML::Node& root, const std::string& file) : top_(root, "", file), file_(file) {}

  Result<PlannerInput> read() {
    TG_RETURN_IF_ERROR(top_.expect_map({"name", "years", "periods_per_year", "reserve", "max_latency_ms",
                                        "target_utilization", "carbon_price_usd_per_t", "signals", "deployment",
                                        "regions", "sites", "notes"}));
    TG_RETURN_IF_ERROR(read_horizon());
    TG_RETURN_IF_ERROR(read_deployment());
    TG_RETURN_IF_ERROR(read_signals());
    TG_RETURN_IF_ERROR(read_regions());
    TG_RETURN_IF_ERROR(read_sites());
    return std::move(in_);
  }

 private:
  Status read_horizon() {
    TG_ASSIGN_OR_RETURN(in_.name, top_.optional_string("name", ""));
    TG_ASSIGN_OR_RETURN(in_.years, top_.integer("years", 1, 50));
    TG_ASSIGN_OR_RETURN(in_.periods_per_year, top_.optional_integer("periods_per_year", in_.periods_per_year, 1, 52));
    TG_ASSIGN_OR_RETURN(in_.reserve, top_.number("reserve", in_.reserve, 0, 10));
    TG_ASSIGN_OR_RETURN(in_.max_latency_ms, top_.number("max_latency_ms", in_.max_latency_ms, 0, 1000));
    TG_ASSIGN_OR_RETURN(in_.target_utilization, top_.number("target_utilization", in_.target_utilization, 0.01, 1));
    TG_ASSIGN_OR_RETURN(in_.carbon_price_usd_per_t,
                        top_.number("carbon_price_usd_per_t", in_.carbon_price_usd_per_t, 0, 1e5));
    return Status::ok();
  }

  // MW per token/s from the performance model and the trace's token mix.
  Status read_deployment() {
    if (!top_.has("deployment")) return top_.error("deployment", "is required");
    const grid::YamlFields dep = top_.map("deployment");
    TG_RETURN_IF_ERROR(dep.expect_map({"model", "accelerator", "tensor_parallel", "trace", "max_seqs"}));
    TG_ASSIGN_OR_RETURN(std::string model, dep.string("model"));
    TG_ASSIGN_OR_RETURN(std::string accel, dep.string("accelerator"));
    TG_ASSIGN_OR_RETURN(int tensor_parallel, dep.integer("tensor_parallel", 1, 64));
    TG_ASSIGN_OR_RETURN(int max_seqs, dep.optional_integer("max_seqs", 256, 1, 4096));
    TG_ASSIGN_OR_RETURN(std::string trace_path, dep.string("trace"));
    auto shape = grid::model_shape(model);
    if (!shape) return dep.error("model", shape.status().message());
    auto kind = grid::parse_accelerator(accel);
    if (!kind) return dep.error("accelerator", kind.status().message());
    auto perf = grid::PerfModel::create({*shape, *kind, tensor_parallel});
    if (!perf) return top_.error("deployment", perf.status().message());
    auto trace = read_trace(resolve_path(file_, trace_path));
    if (!trace) return dep.error("trace", trace.status().message());
    const auto offline = perf->offline_throughput(trace->mean_input_tokens(), trace->mean_output_tokens(), max_seqs);
    in_.tokens_per_request = trace->mean_output_tokens();
    in_.mw_per_token_s = offline.power_w / 1e6 / offline.output_tokens_per_s;
    in_.idle_fraction = perf->idle_watts() / offline.power_w;
    return Status::ok();
  }

  Status read_signals() {
    if (!top_.has("signals")) return Status::ok();
    const grid::YamlFields sig = top_.map("signals");
    TG_RETURN_IF_ERROR(sig.expect_map({"dir"}));
    TG_ASSIGN_OR_RETURN(std::string dir, sig.string("dir"));
    signals_ = std::make_shared<grid::Signals>();
    Status loaded = signals_->load_directory(resolve_path(file_, dir));
    if (!loaded) return sig.error("dir", loaded.message());
    return Status::ok();
  }

  Status read_regions() {
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> regions, top_.list("regions"));
    if (regions.empty()) return top_.error("regions", "expected a list of regions");
    for (const grid::YamlFields& r : regions) {
      TG_RETURN_IF_ERROR(r.expect_map({"name", "rps_by_year"}));
      PlanRegion region;
      TG_ASSIGN_OR_RETURN(region.name, r.string("name"));
      TG_ASSIGN_OR_RETURN(region.rps_by_year, r.numbers("rps_by_year", 0, 1e12));
      if (region.rps_by_year.empty()) return r.error("rps_by_year", "expected a list of requests/s, one per year");
      in_.regions.push_back(std::move(region));
    }
    return Status::ok();
  }

  Status read_sites() {
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> sites, top_.list("sites"));
    if (sites.empty()) return top_.error("sites", "expected a list of candidate sites");
    for (const grid::YamlFields& f : sites) {
      TG_ASSIGN_OR_RETURN(PlanSite site, read_site(f));
      in_.sites.push_back(std::move(site));
    }
    return Status::ok();
  }

  Result<PlanSite> read_site(const grid::YamlFields& f) const {
    TG_RETURN_IF_ERROR(f.expect_map({"name", "zone", "build_months", "available_year", "announced", "capex_usd_per_mw",
                                     "max_mw", "existing_mw", "pue", "spot_usd_per_mwh", "carbon_g_per_kwh",
                                     "latency_ms", "contracts"}));
    PlanSite s;
    TG_ASSIGN_OR_RETURN(s.name, f.string("name"));
    TG_ASSIGN_OR_RETURN(s.zone, f.optional_string("zone", ""));
    TG_ASSIGN_OR_RETURN(s.build_months, f.number("build_months", s.build_months, 0, 600));
    TG_ASSIGN_OR_RETURN(s.available_year, f.number("available_year", s.available_year, 0, 50));
    TG_ASSIGN_OR_RETURN(s.announced, f.boolean("announced", s.announced));
    TG_ASSIGN_OR_RETURN(s.capex_usd_per_mw, f.required_number("capex_usd_per_mw", 0, 1e10));
    TG_ASSIGN_OR_RETURN(s.max_mw, f.number("max_mw", s.max_mw, 0, 1e6));
    TG_ASSIGN_OR_RETURN(s.existing_mw, f.number("existing_mw", s.existing_mw, 0, 1e6));
    TG_ASSIGN_OR_RETURN(s.pue, f.number("pue", s.pue, 1, 3));
    TG_RETURN_IF_ERROR(read_energy_prices(f, s));
    if (f.has("latency_ms")) {
      const grid::YamlFields latency = f.map("latency_ms");
      if (!latency.node().IsMap()) return f.error("latency_ms", "expected a map region: ms");
      for (const auto& kv : latency.node()) {
        TG_ASSIGN_OR_RETURN(s.latency_ms[kv.first.Scalar()], latency.required_number(kv.first.Scalar(), 0, 1e6));
      }
    }
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> contracts, f.list("contracts"));
    for (const grid::YamlFields& c : contracts) {
      TG_RETURN_IF_ERROR(c.expect_map({"name", "ppa_price_usd_per_mwh"}));
      ContractOption option;
      TG_ASSIGN_OR_RETURN(option.name, c.string("name"));
      TG_ASSIGN_OR_RETURN(option.ppa_price_usd_per_mwh, c.required_number("ppa_price_usd_per_mwh", -1e4, 1e5));
      s.contracts.push_back(option);
    }
    return s;
  }

  // Spot price and carbon intensity as given, or else the means of the site's zone in the signals.
  Status read_energy_prices(const grid::YamlFields& f, PlanSite& s) const {
    TG_ASSIGN_OR_RETURN(s.spot_usd_per_mwh, f.number("spot_usd_per_mwh", s.spot_usd_per_mwh, -1e4, 1e5));
    TG_ASSIGN_OR_RETURN(s.carbon_g_per_kwh, f.number("carbon_g_per_kwh", s.carbon_g_per_kwh, 0, 5000));
    const bool has_spot = f.has("spot_usd_per_mwh"), has_carbon = f.has("carbon_g_per_kwh");
    if (has_spot && has_carbon) return Status::ok();
    const int zone = signals_ ? signals_->zone_index(s.zone) : -1;
    if (zone < 0)
      return f.error("zone", "give spot_usd_per_mwh and carbon_g_per_kwh, or a zone the signals directory holds");
    const grid::ZoneSeries& z = signals_->zones()[static_cast<size_t>(zone)];
    double price = 0, carbon = 0;
    for (size_t h = 0; h < z.hours(); ++h) {
      price += z.price_usd_per_mwh[h];
      carbon += z.carbon_g_per_kwh[h];
    }
    if (!has_spot) s.spot_usd_per_mwh = price / static_cast<double>(z.hours());
    if (!has_carbon) s.carbon_g_per_kwh = carbon / static_cast<double>(z.hours());
    return Status::ok();
  }

  const grid::YamlFields top_;
  const std::string& file_;
  std::shared_ptr<grid::Signals> signals_;
  PlannerInput in_;
};

}  // namespace

Result<PlannerInput> parse_planner_input(const std::string& yaml_text, const std::string& file) {
  return grid::read_yaml(yaml_text, file, [&](const YAML::Node& root) { return PlannerReader(root, file).read(); });
}

Result<PlannerInput> load_planner_input(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(path + ": cannot open the planner file");
  std::ostringstream buf;
  buf << f.rdbuf();
  return parse_planner_input(buf.str(), path);
}

std::string plan_table(const PlannerInput& in, const PlanResult& r) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-14s %9s %9s %-14s %6s %12s %13s %13s %12s %11s\n", "site", "MW start", "MW end",
                "contract", "share", "energy MWh", "energy USD", "capex USD", "stranded MWy", "peak str MW");
  out += buf;
  for (const SitePlan& s : r.sites) {
    std::snprintf(buf, sizeof buf, "%-14s %9.1f %9.1f %-14s %6.2f %12.0f %13.0f %13.0f %12.1f %11.1f\n", s.name.c_str(),
                  s.mw.front(), s.mw.back(), s.contract.c_str(), s.ppa_share, s.energy_mwh, s.energy_usd, s.capex_usd,
                  s.stranded_mw_years, s.peak_stranded_mw);
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "total over %d years: capex %.0f USD, energy %.0f USD, carbon %.0f t (%.0f USD at %.0f USD/t), total %.0f USD\n",
                in.years, r.costs.capex_usd, r.costs.energy_usd, r.carbon_t, r.costs.carbon_usd,
                in.carbon_price_usd_per_t, r.costs.total());
  out += buf;
  std::snprintf(buf, sizeof buf,
                "regret of the contracts signed at the start: %.0f USD against contracts chosen in hindsight, %.0f USD "
                "against spot only\n",
                r.regret_vs_hindsight_usd(), r.regret_vs_spot_usd());
  out += buf;
  if (r.unmet_token_s_years > 0) {
    std::snprintf(buf, sizeof buf, "unmet demand: %.0f token/s-years (no eligible site could be built in time)\n",
                  r.unmet_token_s_years);
    out += buf;
  }
  return out;
}

std::string plan_json(const PlannerInput& in, const PlanResult& r) {
  auto r6 = [](double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    return std::strtod(b, nullptr);
  };
  nlohmann::ordered_json j;
  j["name"] = in.name;
  j["years"] = in.years;
  j["periods_per_year"] = in.periods_per_year;
  j["method"] = "greedy capacity build in merit order, exhaustive contract grid (planner.h)";
  j["total_usd"] = r6(r.costs.total());
  j["capex_usd"] = r6(r.costs.capex_usd);
  j["energy_usd"] = r6(r.costs.energy_usd);
  j["carbon_t"] = r6(r.carbon_t);
  j["hindsight_total_usd"] = r6(r.hindsight.total());
  j["spot_only_total_usd"] = r6(r.spot_only.total());
  j["regret_vs_hindsight_usd"] = r6(r.regret_vs_hindsight_usd());
  j["regret_vs_spot_usd"] = r6(r.regret_vs_spot_usd());
  j["unmet_token_s_years"] = r6(r.unmet_token_s_years);
  nlohmann::ordered_json sites = nlohmann::ordered_json::array();
  for (const SitePlan& s : r.sites) {
    nlohmann::ordered_json mw = nlohmann::ordered_json::array(), served = nlohmann::ordered_json::array();
    for (double v : s.mw) mw.push_back(r6(v));
    for (double v : s.served_mw) served.push_back(r6(v));
    sites.push_back({{"site", s.name}, {"contract", s.contract}, {"ppa_share", s.ppa_share},
                     {"capex_usd", r6(s.capex_usd)}, {"energy_mwh", r6(s.energy_mwh)}, {"energy_usd", r6(s.energy_usd)},
                     {"carbon_t", r6(s.carbon_t)}, {"stranded_mw_years", r6(s.stranded_mw_years)},
                     {"peak_stranded_mw", r6(s.peak_stranded_mw)}, {"mw_by_period", mw}, {"served_it_mw_by_period", served}});
  }
  j["sites"] = sites;
  return j.dump(2) + "\n";
}

}  // namespace tokengrid::sim
