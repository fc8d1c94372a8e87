#include "sim/scenario.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "grid/clock.h"
#include "grid/model_shape.h"
#include "grid/synthetic_signals.h"

namespace tokengrid::sim {

std::string yaml_where(const std::string& file, const YAML::Node& node, const std::string& field) {
  const YAML::Mark mark = node.Mark();
  std::string s = file;
  if (mark.line >= 0) s += ":" + std::to_string(mark.line + 1);
  return s + ": " + field + ": ";
}

namespace {

// Reads typed fields of one YAML map, with errors naming file, line and field path.
class Fields {
 public:
  Fields(const YAML::Node& node, std::string file, std::string path)
      : node_(node), file_(std::move(file)), path_(std::move(path)) {}

  Status check_map(std::initializer_list<const char*> known) const {
    if (!node_.IsMap()) return invalid_argument(yaml_where(file_, node_, path_) + "expected a map");
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>("");
      bool ok = false;
      for (const char* k : known) ok |= key == k;
      if (!ok) {
        std::string list;
        for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
        return invalid_argument(yaml_where(file_, kv.first, field(key)) + "unknown key; known keys: " + list);
      }
    }
    return Status::ok();
  }
  bool has(const char* key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }
  YAML::Node operator[](const char* key) const { return node_[key]; }
  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  Status number(const char* key, double& out, double lo, double hi, bool required = false) const {
    const YAML::Node n = node_[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) return invalid_argument(yaml_where(file_, node_, field(key)) + "is required");
      return Status::ok();
    }
    double v;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
      return invalid_argument(yaml_where(file_, n, field(key)) + "expected a number, got '" +
                              (n.IsScalar() ? n.Scalar() : std::string("a list or map")) + "'");
    if (v < lo || v > hi) {
      std::ostringstream m;
      m << "must be between " << lo << " and " << hi << ", got " << v;
      return invalid_argument(yaml_where(file_, n, field(key)) + m.str());
    }
    out = v;
    return Status::ok();
  }
  Status integer(const char* key, int64_t& out, int64_t lo, int64_t hi, bool required = false) const {
    double v = static_cast<double>(out);
    TG_RETURN_IF_ERROR(number(key, v, static_cast<double>(lo), static_cast<double>(hi), required));
    if (v != std::floor(v)) return invalid_argument(yaml_where(file_, node_[key], field(key)) + "expected a whole number");
    out = static_cast<int64_t>(v);
    return Status::ok();
  }
  Status text(const char* key, std::string& out, bool required = false) const {
    const YAML::Node n = node_[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) return invalid_argument(yaml_where(file_, node_, field(key)) + "is required");
      return Status::ok();
    }
    if (!n.IsScalar()) return invalid_argument(yaml_where(file_, n, field(key)) + "expected a string");
    out = n.Scalar();
    return Status::ok();
  }
  Status time(const char* key, double& out, bool required = false) const {
    std::string s;
    TG_RETURN_IF_ERROR(text(key, s, required));
    if (s.empty()) return Status::ok();
    Result<double> t = grid::parse_utc_time(s);
    if (!t) return invalid_argument(yaml_where(file_, node_[key], field(key)) + t.status().message());
    out = *t;
    return Status::ok();
  }

 private:
  YAML::Node node_;
  std::string file_;
  std::string path_;
};

int find_site(const std::vector<grid::Site>& sites, const std::string& name) {
  for (size_t i = 0; i < sites.size(); ++i)
    if (sites[i].name == name) return static_cast<int>(i);
  return -1;
}

Status parse_workload(const Fields& w, const std::string& file, Scenario& s) {
  TG_RETURN_IF_ERROR(w.check_map({"model", "trace", "rate_rps", "deferrable", "regions"}));
  std::string model_name, trace_path;
  TG_RETURN_IF_ERROR(w.text("model", model_name, true));
  Result<grid::ModelShape> shape = grid::model_shape(model_name);
  if (!shape) return invalid_argument(yaml_where(file, w["model"], w.field("model")) + shape.status().message());
  s.model = shape->name;
  TG_RETURN_IF_ERROR(w.text("trace", trace_path, true));
  Result<Trace> trace = read_trace(resolve_path(file, trace_path));
  if (!trace) return invalid_argument(yaml_where(file, w["trace"], w.field("trace")) + trace.status().message());
  s.workload.trace = std::make_shared<const Trace>(std::move(trace).value());
  TG_RETURN_IF_ERROR(w.number("rate_rps", s.workload.rate_rps, 1e-6, 1e9, true));
  if (w.has("deferrable")) {
    Fields d(w["deferrable"], file, w.field("deferrable"));
    TG_RETURN_IF_ERROR(d.check_map({"share", "window_hours"}));
    TG_RETURN_IF_ERROR(d.number("share", s.workload.deferrable_share, 0, 1, true));
    TG_RETURN_IF_ERROR(d.number("window_hours", s.workload.deferrable_window_h, 0, 168, true));
  }
  const YAML::Node regions = w["regions"];
  if (!regions.IsSequence() || regions.size() == 0)
    return invalid_argument(yaml_where(file, regions.IsDefined() ? regions : w["model"], w.field("regions")) +
                            "expected a list of user regions");
  for (size_t i = 0; i < regions.size(); ++i) {
    Fields r(regions[i], file, w.field("regions[" + std::to_string(i) + "]"));
    TG_RETURN_IF_ERROR(r.check_map({"name", "share", "utc_offset_h", "shape"}));
    RegionSpec spec;
    TG_RETURN_IF_ERROR(r.text("name", spec.name, true));
    TG_RETURN_IF_ERROR(r.number("share", spec.share, 1e-9, 1e9, true));
    int64_t offset = 0;
    TG_RETURN_IF_ERROR(r.integer("utc_offset_h", offset, -12, 14));
    spec.utc_offset_h = static_cast<int>(offset);
    const YAML::Node shape_node = r["shape"];
    if (!shape_node.IsDefined() || shape_node.IsNull()) {
      spec.shape = *diurnal_shape("flat");
    } else if (shape_node.IsScalar()) {
      Result<DiurnalShape> named = diurnal_shape(shape_node.Scalar());
      if (!named) return invalid_argument(yaml_where(file, shape_node, r.field("shape")) + named.status().message());
      spec.shape = *named;
    } else if (shape_node.IsSequence() && shape_node.size() == 24) {
      for (size_t h = 0; h < 24; ++h) {
        double v;
        if (!YAML::convert<double>::decode(shape_node[h], v) || !(v >= 0) || !std::isfinite(v))
          return invalid_argument(yaml_where(file, shape_node[h], r.field("shape[" + std::to_string(h) + "]")) +
                                  "expected a factor >= 0");
        spec.shape[h] = v;
      }
    } else {
      return invalid_argument(yaml_where(file, shape_node, r.field("shape")) +
                              "expected flat, office, consumer or a list of 24 hourly factors");
    }
    for (const RegionSpec& other : s.workload.regions)
      if (other.name == spec.name)
        return invalid_argument(yaml_where(file, regions[i], r.field("name")) + "region '" + spec.name + "' is listed twice");
    s.workload.regions.push_back(spec);
  }
  Status valid = validate(s.workload);
  if (!valid) return invalid_argument(yaml_where(file, w["rate_rps"], "workload") + valid.message());
  return Status::ok();
}

}  // namespace

Result<Scenario> parse_scenario(const std::string& yaml_text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  Scenario s;
  s.file = file;
  Fields top(root, file, "");
  TG_RETURN_IF_ERROR(top.check_map({"name", "start", "horizon_hours", "seed", "mode", "slo", "carbon_price_usd_per_t",
                                    "policy", "signals", "replica", "workload", "sites", "placement", "buildout",
                                    "outages", "notes"}));
  TG_RETURN_IF_ERROR(top.text("name", s.name));
  TG_RETURN_IF_ERROR(top.time("start", s.start_unix_s, true));
  if (std::fmod(s.start_unix_s, 3600.0) != 0)
    return invalid_argument(yaml_where(file, root["start"], "start") + "must be a whole UTC hour");
  int64_t horizon = 24, seed = 1;
  TG_RETURN_IF_ERROR(top.integer("horizon_hours", horizon, 1, 8784, true));
  s.horizon_hours = static_cast<int>(horizon);
  TG_RETURN_IF_ERROR(top.integer("seed", seed, 0, int64_t{1} << 53));
  s.seed = static_cast<uint64_t>(seed);
  std::string mode = "request";
  TG_RETURN_IF_ERROR(top.text("mode", mode));
  if (mode == "request") s.mode = SimMode::kRequest;
  else if (mode == "fleet") s.mode = SimMode::kFleet;
  else return invalid_argument(yaml_where(file, root["mode"], "mode") + "expected request or fleet, got '" + mode + "'");

  if (top.has("policy")) {
    Result<grid::PolicyParams> params = grid::parse_policy_params(root["policy"], file);
    if (!params) return params.status();
    s.policy = *params;
  }
  TG_RETURN_IF_ERROR(top.number("carbon_price_usd_per_t", s.policy.carbon_price_usd_per_t, 0, 1e5));
  if (top.has("slo")) {
    Fields slo(root["slo"], file, "slo");
    TG_RETURN_IF_ERROR(slo.check_map({"ttft_s", "tpot_s"}));
    TG_RETURN_IF_ERROR(slo.number("ttft_s", s.slo.ttft_s, 1e-3, 3600));
    TG_RETURN_IF_ERROR(slo.number("tpot_s", s.slo.tpot_s, 1e-4, 60));
  }
  if (top.has("replica")) {
    Fields r(root["replica"], file, "replica");
    TG_RETURN_IF_ERROR(r.check_map({"max_seqs", "token_budget"}));
    int64_t max_seqs = s.max_seqs, budget = s.token_budget;
    TG_RETURN_IF_ERROR(r.integer("max_seqs", max_seqs, 1, 4096));
    TG_RETURN_IF_ERROR(r.integer("token_budget", budget, 16, 1 << 20));
    if (budget <= max_seqs)
      return invalid_argument(yaml_where(file, root["replica"], "replica.token_budget") +
                              "must exceed max_seqs so prompts can make progress");
    s.max_seqs = static_cast<int32_t>(max_seqs);
    s.token_budget = static_cast<int32_t>(budget);
  }
  if (!top.has("workload")) return invalid_argument(yaml_where(file, root, "workload") + "is required");
  TG_RETURN_IF_ERROR(parse_workload(Fields(root["workload"], file, "workload"), file, s));
  s.workload.seed = s.seed;

  if (!top.has("sites")) return invalid_argument(yaml_where(file, root, "sites") + "is required");
  Result<std::vector<grid::Site>> sites = grid::parse_sites(root["sites"], file);
  if (!sites) return sites.status();
  s.sites = std::move(sites).value();
  if (top.has("placement")) {
    Result<std::vector<grid::PlacementRule>> rules = grid::parse_placement_rules(root["placement"], file);
    if (!rules) return rules.status();
    s.placement = std::move(rules).value();
  }
  bool served = false;
  for (const grid::Site& site : s.sites) served |= site.find_model(s.model) != nullptr;
  if (!served)
    return invalid_argument(yaml_where(file, root["sites"], "sites") + "no site lists the workload's model '" +
                            s.model + "' under models; add it (replicas: 0 is fine with a buildout)");

  if (top.has("buildout")) {
    const YAML::Node list = root["buildout"];
    if (!list.IsSequence()) return invalid_argument(yaml_where(file, list, "buildout") + "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      Fields b(list[i], file, "buildout[" + std::to_string(i) + "]");
      TG_RETURN_IF_ERROR(b.check_map({"site", "from", "replicas"}));
      std::string name;
      TG_RETURN_IF_ERROR(b.text("site", name, true));
      BuildOut out;
      out.site = find_site(s.sites, name);
      if (out.site < 0) return invalid_argument(yaml_where(file, list[i]["site"], b.field("site")) + "no site named '" + name + "'");
      const grid::ModelReplicas* m = s.sites[static_cast<size_t>(out.site)].find_model(s.model);
      if (!m)
        return invalid_argument(yaml_where(file, list[i], b.field("site")) + "site '" + name +
                                "' does not list the workload's model; add it under the site's models");
      TG_RETURN_IF_ERROR(b.time("from", out.from_unix_s, true));
      int64_t replicas = 0;
      TG_RETURN_IF_ERROR(b.integer("replicas", replicas, 1, 10'000'000, true));
      out.replicas = static_cast<int>(replicas);
      s.buildout.push_back(out);
    }
    // The site's accelerators must hold the final replica count.
    for (size_t si = 0; si < s.sites.size(); ++si) {
      const grid::ModelReplicas* m = s.sites[si].find_model(s.model);
      if (!m) continue;
      int64_t devices = int64_t{m->replicas} * m->tensor_parallel;
      for (const BuildOut& b : s.buildout)
        if (b.site == static_cast<int>(si)) devices += int64_t{b.replicas} * m->tensor_parallel;
      int64_t other = 0;
      for (const grid::ModelReplicas& mm : s.sites[si].models)
        if (&mm != m && mm.accelerator == m->accelerator) other += int64_t{mm.replicas} * mm.tensor_parallel;
      if (devices + other > s.sites[si].accelerator_count(m->accelerator))
        return invalid_argument(yaml_where(file, root["buildout"], "buildout") + "site '" + s.sites[si].name +
                                "' would need " + std::to_string(devices + other) + " accelerators but lists " +
                                std::to_string(s.sites[si].accelerator_count(m->accelerator)) +
                                "; raise its accelerators count");
    }
  }
  if (top.has("outages")) {
    const YAML::Node list = root["outages"];
    if (!list.IsSequence()) return invalid_argument(yaml_where(file, list, "outages") + "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      Fields o(list[i], file, "outages[" + std::to_string(i) + "]");
      TG_RETURN_IF_ERROR(o.check_map({"site", "from", "until"}));
      std::string name;
      TG_RETURN_IF_ERROR(o.text("site", name, true));
      Outage out;
      out.site = find_site(s.sites, name);
      if (out.site < 0) return invalid_argument(yaml_where(file, list[i]["site"], o.field("site")) + "no site named '" + name + "'");
      TG_RETURN_IF_ERROR(o.time("from", out.from_unix_s, true));
      TG_RETURN_IF_ERROR(o.time("until", out.until_unix_s, true));
      if (out.until_unix_s <= out.from_unix_s)
        return invalid_argument(yaml_where(file, list[i]["until"], o.field("until")) + "must be after from");
      s.outages.push_back(out);
    }
  }

  if (!top.has("signals")) return invalid_argument(yaml_where(file, root, "signals") + "is required (dir: or synthetic:)");
  Fields sig(root["signals"], file, "signals");
  TG_RETURN_IF_ERROR(sig.check_map({"dir", "synthetic", "seed"}));
  auto signals = std::make_shared<grid::Signals>();
  if (sig.has("dir")) {
    std::string dir;
    TG_RETURN_IF_ERROR(sig.text("dir", dir, true));
    Status st = signals->load_directory(resolve_path(file, dir));
    if (!st) return invalid_argument(yaml_where(file, root["signals"]["dir"], "signals.dir") + st.message());
  } else {
    int64_t sseed = static_cast<int64_t>(s.seed);
    TG_RETURN_IF_ERROR(sig.integer("seed", sseed, 0, int64_t{1} << 53));
    const auto profiles = grid::default_zone_profiles();
    *signals = grid::synthetic_signals(profiles, s.start_unix_s, s.horizon_hours + 24 * 8,
                                       static_cast<uint64_t>(sseed));
  }
  for (const grid::Site& site : s.sites)
    if (signals->zone_index(site.zone) < 0)
      return invalid_argument(yaml_where(file, root["sites"], "sites") + "site '" + site.name + "' is in zone '" +
                              site.zone + "' which the signals lack; add its CSV or fix the zone");
  s.signals = std::move(signals);
  return s;
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the scenario file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_scenario(buf.str(), path);
}

}  // namespace tokengrid::sim
