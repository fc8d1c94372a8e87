#include "sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "grid/clock.h"
#include "grid/model_shape.h"
#include "grid/synthetic_signals.h"

namespace tokengrid::sim {

namespace {

int find_site(const std::vector<grid::Site>& sites, const std::string& name) {
  for (size_t i = 0; i < sites.size(); ++i)
    if (sites[i].name == name) return static_cast<int>(i);
  return -1;
}

// Reads a scenario document section by section, in the order of scenario.h's example; each
// section may check what the sections before it read (sites before buildout, for instance).
class ScenarioReader {
 public:
  ScenarioReader(const YAML::Node& root, const std::string& file) : top_(root, "", file), file_(file) {
    s_.file = file;
  }

  Result<Scenario> read() {
    TG_RETURN_IF_ERROR(top_.expect_map({"name", "start", "horizon_hours", "seed", "mode", "slo",
                                        "carbon_price_usd_per_t", "policy", "signals", "replica", "workload",
                                        "sites", "placement", "buildout", "outages", "notes"}));
    TG_RETURN_IF_ERROR(read_run());
    TG_RETURN_IF_ERROR(read_policy());
    TG_RETURN_IF_ERROR(read_replica());
    TG_RETURN_IF_ERROR(read_workload(top_.map("workload")));
    TG_RETURN_IF_ERROR(read_sites());
    TG_RETURN_IF_ERROR(read_buildout());
    TG_RETURN_IF_ERROR(read_outages());
    TG_RETURN_IF_ERROR(read_signals());
    return std::move(s_);
  }

 private:
  // name, start, horizon_hours, seed, mode.
  Status read_run() {
    TG_ASSIGN_OR_RETURN(s_.name, top_.optional_string("name", ""));
    TG_ASSIGN_OR_RETURN(s_.start_unix_s, top_.required_time("start"));
    if (std::fmod(s_.start_unix_s, 3600.0) != 0) return top_.error("start", "must be a whole UTC hour");
    TG_ASSIGN_OR_RETURN(s_.horizon_hours, top_.integer("horizon_hours", 1, 8784));
    TG_ASSIGN_OR_RETURN(s_.seed, top_.optional_integer("seed", 1, 0, int64_t{1} << 53));
    s_.workload.seed = s_.seed;
    TG_ASSIGN_OR_RETURN(std::string mode, top_.optional_string("mode", "request"));
    if (mode == "request") {
      s_.mode = SimMode::kRequest;
    } else if (mode == "fleet") {
      s_.mode = SimMode::kFleet;
    } else {
      return top_.error("mode", "expected request or fleet, got '" + mode + "'");
    }
    return Status::ok();
  }

  // policy, carbon_price_usd_per_t, slo.
  Status read_policy() {
    if (top_.has("policy")) {
      TG_ASSIGN_OR_RETURN(s_.policy, grid::parse_policy_params(top_.node()["policy"], file_));
    }
    TG_ASSIGN_OR_RETURN(s_.policy.carbon_price_usd_per_t,
                        top_.number("carbon_price_usd_per_t", s_.policy.carbon_price_usd_per_t, 0, 1e5));
    if (!top_.has("slo")) return Status::ok();
    const grid::YamlFields slo = top_.map("slo");
    TG_RETURN_IF_ERROR(slo.expect_map({"ttft_s", "tpot_s"}));
    TG_ASSIGN_OR_RETURN(s_.slo.ttft_s, slo.number("ttft_s", s_.slo.ttft_s, 1e-3, 3600));
    TG_ASSIGN_OR_RETURN(s_.slo.tpot_s, slo.number("tpot_s", s_.slo.tpot_s, 1e-4, 60));
    return Status::ok();
  }

  Status read_replica() {
    if (!top_.has("replica")) return Status::ok();
    const grid::YamlFields r = top_.map("replica");
    TG_RETURN_IF_ERROR(r.expect_map({"max_seqs", "token_budget"}));
    TG_ASSIGN_OR_RETURN(s_.max_seqs, r.optional_integer("max_seqs", s_.max_seqs, 1, 4096));
    TG_ASSIGN_OR_RETURN(s_.token_budget, r.optional_integer("token_budget", s_.token_budget, 16, 1 << 20));
    if (s_.token_budget <= s_.max_seqs) return r.error("token_budget", "must exceed max_seqs so prompts can make progress");
    return Status::ok();
  }

  Status read_workload(const grid::YamlFields& w) {
    if (!top_.has("workload")) return top_.error("workload", "is required");
    TG_RETURN_IF_ERROR(w.expect_map({"model", "trace", "rate_rps", "deferrable", "regions"}));
    TG_ASSIGN_OR_RETURN(std::string model_name, w.string("model"));
    Result<grid::ModelShape> shape = grid::model_shape(model_name);
    if (!shape) return w.error("model", shape.status().message());
    s_.model = shape->name;
    TG_ASSIGN_OR_RETURN(std::string trace_path, w.string("trace"));
    Result<Trace> trace = read_trace(resolve_path(file_, trace_path));
    if (!trace) return w.error("trace", trace.status().message());
    s_.workload.trace = std::make_shared<const Trace>(std::move(trace).value());
    TG_ASSIGN_OR_RETURN(s_.workload.rate_rps, w.required_number("rate_rps", 1e-6, 1e9));
    if (w.has("deferrable")) {
      const grid::YamlFields d = w.map("deferrable");
      TG_RETURN_IF_ERROR(d.expect_map({"share", "window_hours"}));
      TG_ASSIGN_OR_RETURN(s_.workload.deferrable_share, d.required_number("share", 0, 1));
      TG_ASSIGN_OR_RETURN(s_.workload.deferrable_window_h, d.required_number("window_hours", 0, 168));
    }
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> regions, w.list("regions"));
    if (regions.empty()) return w.error("regions", "expected a list of user regions");
    for (const grid::YamlFields& r : regions) TG_RETURN_IF_ERROR(read_region(r));
    Status valid = validate(s_.workload);
    if (!valid) return w.error("rate_rps", valid.message());
    return Status::ok();
  }

  Status read_region(const grid::YamlFields& r) {
    TG_RETURN_IF_ERROR(r.expect_map({"name", "share", "utc_offset_h", "shape"}));
    RegionSpec spec;
    TG_ASSIGN_OR_RETURN(spec.name, r.string("name"));
    TG_ASSIGN_OR_RETURN(spec.share, r.required_number("share", 1e-9, 1e9));
    TG_ASSIGN_OR_RETURN(spec.utc_offset_h, r.optional_integer("utc_offset_h", 0, -12, 14));
    TG_ASSIGN_OR_RETURN(spec.shape, read_shape(r));
    for (const RegionSpec& other : s_.workload.regions)
      if (other.name == spec.name) return r.error("name", "region '" + spec.name + "' is listed twice");
    s_.workload.regions.push_back(spec);
    return Status::ok();
  }

  // A named daily shape, or 24 hourly factors.
  static Result<DiurnalShape> read_shape(const grid::YamlFields& r) {
    if (!r.has("shape")) return *diurnal_shape("flat");
    const YAML::Node shape = r.node()["shape"];
    if (shape.IsScalar()) {
      Result<DiurnalShape> named = diurnal_shape(shape.Scalar());
      if (!named) return r.error("shape", named.status().message());
      return named;
    }
    if (!shape.IsSequence() || shape.size() != 24)
      return r.error("shape", "expected flat, office, consumer or a list of 24 hourly factors");
    TG_ASSIGN_OR_RETURN(std::vector<double> factors, r.numbers("shape", 0, 1e9));
    DiurnalShape out;
    std::copy(factors.begin(), factors.end(), out.begin());
    return out;
  }

  // sites and placement, then a check that some site serves the workload's model.
  Status read_sites() {
    if (!top_.has("sites")) return top_.error("sites", "is required");
    TG_ASSIGN_OR_RETURN(s_.sites, grid::parse_sites(top_.node()["sites"], file_));
    if (top_.has("placement")) {
      TG_ASSIGN_OR_RETURN(s_.placement, grid::parse_placement_rules(top_.node()["placement"], file_));
    }
    for (const grid::Site& site : s_.sites)
      if (site.find_model(s_.model) != nullptr) return Status::ok();
    return top_.error("sites", "no site lists the workload's model '" + s_.model +
                                   "' under models; add it (replicas: 0 is fine with a buildout)");
  }

  // The site named by the `site` field of `f`, as an index into the sites.
  Result<int> site_index(const grid::YamlFields& f) const {
    TG_ASSIGN_OR_RETURN(std::string name, f.string("site"));
    const int site = find_site(s_.sites, name);
    if (site < 0) return f.error("site", "no site named '" + name + "'");
    return site;
  }

  Status read_buildout() {
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> list, top_.list("buildout"));
    for (const grid::YamlFields& b : list) {
      TG_RETURN_IF_ERROR(b.expect_map({"site", "from", "replicas"}));
      BuildOut out;
      TG_ASSIGN_OR_RETURN(out.site, site_index(b));
      if (!s_.sites[static_cast<size_t>(out.site)].find_model(s_.model))
        return b.error("site", "site '" + s_.sites[static_cast<size_t>(out.site)].name +
                                   "' does not list the workload's model; add it under the site's models");
      TG_ASSIGN_OR_RETURN(out.from_unix_s, b.required_time("from"));
      TG_ASSIGN_OR_RETURN(out.replicas, b.integer("replicas", 1, 10'000'000));
      s_.buildout.push_back(out);
    }
    return check_buildout_fits();
  }

  // Every site's accelerators must hold its final replica count.
  Status check_buildout_fits() const {
    for (size_t si = 0; si < s_.sites.size(); ++si) {
      const grid::Site& site = s_.sites[si];
      const grid::ModelReplicas* m = site.find_model(s_.model);
      if (!m) continue;
      int64_t devices = int64_t{m->replicas} * m->tensor_parallel;
      for (const BuildOut& b : s_.buildout)
        if (b.site == static_cast<int>(si)) devices += int64_t{b.replicas} * m->tensor_parallel;
      for (const grid::ModelReplicas& other : site.models)
        if (&other != m && other.accelerator == m->accelerator) devices += int64_t{other.replicas} * other.tensor_parallel;
      if (devices > site.accelerator_count(m->accelerator))
        return top_.error("buildout", "site '" + site.name + "' would need " + std::to_string(devices) +
                                          " accelerators but lists " +
                                          std::to_string(site.accelerator_count(m->accelerator)) +
                                          "; raise its accelerators count");
    }
    return Status::ok();
  }

  Status read_outages() {
    TG_ASSIGN_OR_RETURN(std::vector<grid::YamlFields> list, top_.list("outages"));
    for (const grid::YamlFields& o : list) {
      TG_RETURN_IF_ERROR(o.expect_map({"site", "from", "until"}));
      Outage out;
      TG_ASSIGN_OR_RETURN(out.site, site_index(o));
      TG_ASSIGN_OR_RETURN(out.from_unix_s, o.required_time("from"));
      TG_ASSIGN_OR_RETURN(out.until_unix_s, o.required_time("until"));
      if (out.until_unix_s <= out.from_unix_s) return o.error("until", "must be after from");
      s_.outages.push_back(out);
    }
    return Status::ok();
  }

  // A directory of CSV files or synthetic signals; every site's zone must be in them.
  Status read_signals() {
    if (!top_.has("signals")) return top_.error("signals", "is required (dir: or synthetic:)");
    const grid::YamlFields sig = top_.map("signals");
    TG_RETURN_IF_ERROR(sig.expect_map({"dir", "synthetic", "seed"}));
    auto signals = std::make_shared<grid::Signals>();
    if (sig.has("dir")) {
      TG_ASSIGN_OR_RETURN(std::string dir, sig.string("dir"));
      Status loaded = signals->load_directory(resolve_path(file_, dir));
      if (!loaded) return sig.error("dir", loaded.message());
    } else {
      TG_ASSIGN_OR_RETURN(int64_t seed, sig.optional_integer("seed", static_cast<int64_t>(s_.seed), 0, int64_t{1} << 53));
      *signals = grid::synthetic_signals(grid::default_zone_profiles(), s_.start_unix_s, s_.horizon_hours + 24 * 8,
                                         static_cast<uint64_t>(seed));
    }
    for (const grid::Site& site : s_.sites)
      if (signals->zone_index(site.zone) < 0)
        return top_.error("sites", "site '" + site.name + "' is in zone '" + site.zone +
                                       "' which the signals lack; add its CSV or fix the zone");
    s_.signals = std::move(signals);
    return Status::ok();
  }

  const grid::YamlFields top_;
  const std::string& file_;
  Scenario s_;
};

}  // namespace

Result<Scenario> parse_scenario(const std::string& yaml_text, const std::string& file) {
  return grid::read_yaml(yaml_text, file, [&](const YAML::Node& root) { return ScenarioReader(root, file).read(); });
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the scenario file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_scenario(buf.str(), path);
}

}  // namespace tokengrid::sim
