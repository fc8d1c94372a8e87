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

class Reader {
 public:
  Reader(std::string file) : file_(std::move(file)) {}
  Status number(const YAML::Node& parent, const char* key, const std::string& path, double& out, double lo, double hi,
                bool required) const {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) return invalid_argument(yaml_where(file_, parent, path + key) + "is required");
      return Status::ok();
    }
    double v;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
      return invalid_argument(yaml_where(file_, n, path + key) + "expected a number");
    if (v < lo || v > hi) {
      std::ostringstream m;
      m << "must be between " << lo << " and " << hi;
      return invalid_argument(yaml_where(file_, n, path + key) + m.str());
    }
    out = v;
    return Status::ok();
  }
  Status text(const YAML::Node& parent, const char* key, const std::string& path, std::string& out, bool required) const {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) return invalid_argument(yaml_where(file_, parent, path + key) + "is required");
      return Status::ok();
    }
    if (!n.IsScalar()) return invalid_argument(yaml_where(file_, n, path + key) + "expected a string");
    out = n.Scalar();
    return Status::ok();
  }
  Status keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> known) const {
    if (!n.IsMap()) return invalid_argument(yaml_where(file_, n, path.empty() ? "(top)" : path) + "expected a map");
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>("");
      bool ok = false;
      for (const char* c : known) ok |= k == c;
      if (!ok) return invalid_argument(yaml_where(file_, kv.first, path + (path.empty() ? "" : ".") + k) + "unknown key");
    }
    return Status::ok();
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace

Result<PlannerInput> parse_planner_input(const std::string& yaml_text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  Reader rd(file);
  TG_RETURN_IF_ERROR(rd.keys(root, "", {"name", "years", "periods_per_year", "reserve", "max_latency_ms",
                                        "target_utilization", "carbon_price_usd_per_t", "signals", "deployment",
                                        "regions", "sites", "notes"}));
  PlannerInput in;
  TG_RETURN_IF_ERROR(rd.text(root, "name", "", in.name, false));
  double years = in.years, ppy = in.periods_per_year;
  TG_RETURN_IF_ERROR(rd.number(root, "years", "", years, 1, 50, true));
  TG_RETURN_IF_ERROR(rd.number(root, "periods_per_year", "", ppy, 1, 52, false));
  in.years = static_cast<int>(years);
  in.periods_per_year = static_cast<int>(ppy);
  TG_RETURN_IF_ERROR(rd.number(root, "reserve", "", in.reserve, 0, 10, false));
  TG_RETURN_IF_ERROR(rd.number(root, "max_latency_ms", "", in.max_latency_ms, 0, 1000, false));
  TG_RETURN_IF_ERROR(rd.number(root, "target_utilization", "", in.target_utilization, 0.01, 1, false));
  TG_RETURN_IF_ERROR(rd.number(root, "carbon_price_usd_per_t", "", in.carbon_price_usd_per_t, 0, 1e5, false));

  // The deployment gives MW per token/s from the performance model and the trace's token mix.
  const YAML::Node dep = root["deployment"];
  if (!dep.IsDefined()) return invalid_argument(yaml_where(file, root, "deployment") + "is required");
  TG_RETURN_IF_ERROR(rd.keys(dep, "deployment", {"model", "accelerator", "tensor_parallel", "trace", "max_seqs"}));
  std::string model, accel, trace_path;
  double tp = 1, max_seqs = 256;
  TG_RETURN_IF_ERROR(rd.text(dep, "model", "deployment.", model, true));
  TG_RETURN_IF_ERROR(rd.text(dep, "accelerator", "deployment.", accel, true));
  TG_RETURN_IF_ERROR(rd.number(dep, "tensor_parallel", "deployment.", tp, 1, 64, true));
  TG_RETURN_IF_ERROR(rd.number(dep, "max_seqs", "deployment.", max_seqs, 1, 4096, false));
  TG_RETURN_IF_ERROR(rd.text(dep, "trace", "deployment.", trace_path, true));
  auto shape = grid::model_shape(model);
  if (!shape) return invalid_argument(yaml_where(file, dep["model"], "deployment.model") + shape.status().message());
  auto kind = grid::parse_accelerator(accel);
  if (!kind) return invalid_argument(yaml_where(file, dep["accelerator"], "deployment.accelerator") + kind.status().message());
  auto perf = grid::PerfModel::create({*shape, *kind, static_cast<int>(tp)});
  if (!perf) return invalid_argument(yaml_where(file, dep, "deployment") + perf.status().message());
  auto trace = read_trace(resolve_path(file, trace_path));
  if (!trace) return invalid_argument(yaml_where(file, dep["trace"], "deployment.trace") + trace.status().message());
  const auto off = perf->offline_throughput(trace->mean_input_tokens(), trace->mean_output_tokens(), static_cast<int>(max_seqs));
  in.tokens_per_request = trace->mean_output_tokens();
  in.mw_per_token_s = off.power_w / 1e6 / off.output_tokens_per_s;
  in.idle_fraction = perf->idle_watts() / off.power_w;

  std::shared_ptr<grid::Signals> signals;
  if (root["signals"].IsDefined()) {
    TG_RETURN_IF_ERROR(rd.keys(root["signals"], "signals", {"dir"}));
    std::string dir;
    TG_RETURN_IF_ERROR(rd.text(root["signals"], "dir", "signals.", dir, true));
    signals = std::make_shared<grid::Signals>();
    Status st = signals->load_directory(resolve_path(file, dir));
    if (!st) return invalid_argument(yaml_where(file, root["signals"]["dir"], "signals.dir") + st.message());
  }

  const YAML::Node regions = root["regions"];
  if (!regions.IsSequence() || regions.size() == 0)
    return invalid_argument(yaml_where(file, regions.IsDefined() ? regions : root, "regions") + "expected a list of regions");
  for (size_t i = 0; i < regions.size(); ++i) {
    const std::string path = "regions[" + std::to_string(i) + "].";
    TG_RETURN_IF_ERROR(rd.keys(regions[i], path.substr(0, path.size() - 1), {"name", "rps_by_year"}));
    PlanRegion r;
    TG_RETURN_IF_ERROR(rd.text(regions[i], "name", path, r.name, true));
    const YAML::Node list = regions[i]["rps_by_year"];
    if (!list.IsSequence() || list.size() == 0)
      return invalid_argument(yaml_where(file, regions[i], path + "rps_by_year") + "expected a list of requests/s, one per year");
    for (size_t k = 0; k < list.size(); ++k) {
      double v;
      if (!YAML::convert<double>::decode(list[k], v) || !(v >= 0) || !std::isfinite(v))
        return invalid_argument(yaml_where(file, list[k], path + "rps_by_year[" + std::to_string(k) + "]") +
                                "expected a rate >= 0");
      r.rps_by_year.push_back(v);
    }
    in.regions.push_back(std::move(r));
  }
  const YAML::Node sites = root["sites"];
  if (!sites.IsSequence() || sites.size() == 0)
    return invalid_argument(yaml_where(file, sites.IsDefined() ? sites : root, "sites") + "expected a list of candidate sites");
  for (size_t i = 0; i < sites.size(); ++i) {
    const YAML::Node n = sites[i];
    const std::string path = "sites[" + std::to_string(i) + "].";
    TG_RETURN_IF_ERROR(rd.keys(n, path.substr(0, path.size() - 1),
                               {"name", "zone", "build_months", "available_year", "announced", "capex_usd_per_mw",
                                "max_mw", "existing_mw", "pue", "spot_usd_per_mwh", "carbon_g_per_kwh", "latency_ms",
                                "contracts"}));
    PlanSite s;
    TG_RETURN_IF_ERROR(rd.text(n, "name", path, s.name, true));
    TG_RETURN_IF_ERROR(rd.text(n, "zone", path, s.zone, false));
    TG_RETURN_IF_ERROR(rd.number(n, "build_months", path, s.build_months, 0, 600, false));
    TG_RETURN_IF_ERROR(rd.number(n, "available_year", path, s.available_year, 0, 50, false));
    if (n["announced"].IsDefined()) {
      bool b;
      if (!YAML::convert<bool>::decode(n["announced"], b))
        return invalid_argument(yaml_where(file, n["announced"], path + "announced") + "expected true or false");
      s.announced = b;
    }
    TG_RETURN_IF_ERROR(rd.number(n, "capex_usd_per_mw", path, s.capex_usd_per_mw, 0, 1e10, true));
    TG_RETURN_IF_ERROR(rd.number(n, "max_mw", path, s.max_mw, 0, 1e6, false));
    TG_RETURN_IF_ERROR(rd.number(n, "existing_mw", path, s.existing_mw, 0, 1e6, false));
    TG_RETURN_IF_ERROR(rd.number(n, "pue", path, s.pue, 1, 3, false));
    const bool has_spot = n["spot_usd_per_mwh"].IsDefined();
    const bool has_carbon = n["carbon_g_per_kwh"].IsDefined();
    TG_RETURN_IF_ERROR(rd.number(n, "spot_usd_per_mwh", path, s.spot_usd_per_mwh, -1e4, 1e5, false));
    TG_RETURN_IF_ERROR(rd.number(n, "carbon_g_per_kwh", path, s.carbon_g_per_kwh, 0, 5000, false));
    if (!has_spot || !has_carbon) {
      const int zi = signals ? signals->zone_index(s.zone) : -1;
      if (zi < 0)
        return invalid_argument(yaml_where(file, n, path + "zone") + "give spot_usd_per_mwh and carbon_g_per_kwh, "
                                "or a zone the signals directory holds");
      const grid::ZoneSeries& z = signals->zones()[static_cast<size_t>(zi)];
      double price = 0, carbon = 0;
      for (size_t h = 0; h < z.hours(); ++h) {
        price += z.price_usd_per_mwh[h];
        carbon += z.carbon_g_per_kwh[h];
      }
      if (!has_spot) s.spot_usd_per_mwh = price / static_cast<double>(z.hours());
      if (!has_carbon) s.carbon_g_per_kwh = carbon / static_cast<double>(z.hours());
    }
    if (n["latency_ms"].IsDefined()) {
      if (!n["latency_ms"].IsMap()) return invalid_argument(yaml_where(file, n["latency_ms"], path + "latency_ms") + "expected a map region: ms");
      for (const auto& kv : n["latency_ms"]) {
        double v;
        if (!YAML::convert<double>::decode(kv.second, v) || !(v >= 0))
          return invalid_argument(yaml_where(file, kv.second, path + "latency_ms." + kv.first.as<std::string>("")) + "expected ms >= 0");
        s.latency_ms[kv.first.as<std::string>("")] = v;
      }
    }
    if (n["contracts"].IsDefined()) {
      const YAML::Node list = n["contracts"];
      if (!list.IsSequence()) return invalid_argument(yaml_where(file, list, path + "contracts") + "expected a list");
      for (size_t k = 0; k < list.size(); ++k) {
        const std::string cp = path + "contracts[" + std::to_string(k) + "].";
        TG_RETURN_IF_ERROR(rd.keys(list[k], cp.substr(0, cp.size() - 1), {"name", "ppa_price_usd_per_mwh"}));
        ContractOption c;
        TG_RETURN_IF_ERROR(rd.text(list[k], "name", cp, c.name, true));
        TG_RETURN_IF_ERROR(rd.number(list[k], "ppa_price_usd_per_mwh", cp, c.ppa_price_usd_per_mwh, -1e4, 1e5, true));
        s.contracts.push_back(c);
      }
    }
    in.sites.push_back(std::move(s));
  }
  return in;
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
