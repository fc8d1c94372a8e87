#include "grid/grid_config.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "grid/model_shape.h"
#include "grid/yaml_fields.h"

namespace tokengrid::grid {
namespace {

Status parse_cpu_power(const YAML::Node& node, const std::string& path, const std::string& file, CpuPowerModel& out) {
  YamlFields c(node, path, file);
  TG_RETURN_IF_ERROR(c.expect_map({"idle_w", "busy_core_w", "cores"}));
  TG_ASSIGN_OR_RETURN(out.idle_w, c.number("idle_w", out.idle_w, 0, 1e6));
  TG_ASSIGN_OR_RETURN(out.busy_core_w, c.number("busy_core_w", out.busy_core_w, 0, 1e4));
  if (c.has("cores")) {
    TG_ASSIGN_OR_RETURN(out.cores, c.integer("cores", 1, 100000));
  }
  return Status::ok();
}

Result<SiteEndpoint> parse_endpoint(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields e(node, path, file);
  TG_RETURN_IF_ERROR(e.expect_map({"url", "models", "api", "max_concurrency"}));
  SiteEndpoint endpoint;
  TG_ASSIGN_OR_RETURN(endpoint.url, e.string("url"));
  if (endpoint.url.rfind("http://", 0) != 0)
    return e.error("url", "'" + endpoint.url + "' must start with http:// (put TLS in front of tokengrid)");
  TG_ASSIGN_OR_RETURN(endpoint.api, e.optional_string("api", endpoint.api));
  if (endpoint.api != "tokengrid" && endpoint.api != "openai")
    return e.error("api", "must be tokengrid (a tokengrid serve worker) or openai (any other server)");
  if (e.has("max_concurrency")) {
    TG_ASSIGN_OR_RETURN(endpoint.max_concurrency, e.integer("max_concurrency", 1, 100000));
  }
  const YAML::Node models = node["models"];
  if (!models.IsDefined() || !models.IsSequence() || models.size() == 0)
    return e.error("models", "must be a non-empty list of the model names clients ask for");
  for (const auto& m : models) {
    if (!m.IsScalar() || m.Scalar().empty()) return e.error(m, "models", "entries must be model names");
    endpoint.models.push_back(m.Scalar());
  }
  return endpoint;
}

// An empty list says the site's endpoints come from its registration in the control plane.
Status parse_endpoints(const YAML::Node& node, const std::string& path, const std::string& file, Site& site) {
  if (!node.IsSequence())
    return YamlFields(node, path, file).error(node, "", "must be a list of {url, models} ([]: those the site registers)");
  for (size_t i = 0; i < node.size(); ++i) {
    TG_ASSIGN_OR_RETURN(SiteEndpoint endpoint, parse_endpoint(node[i], indexed(path, i), file));
    for (const auto& other : site.endpoints)
      if (other.url == endpoint.url)
        return YamlFields(node[i], indexed(path, i), file).error("url", "'" + endpoint.url + "' is listed twice");
    site.endpoints.push_back(std::move(endpoint));
  }
  return Status::ok();
}

// The `models` of the site map `node`: which models run here on how many replicas.
Status parse_models(const YAML::Node& node, const std::string& path, const std::string& file, Site& site) {
  YamlFields f(node, path, file);
  const YAML::Node models = node["models"];
  if (!models.IsDefined() || !models.IsSequence() || models.size() == 0)
    return f.error("models", "must be a non-empty list of {name, accelerator, tensor_parallel, replicas} "
                             "(a live site may give endpoints instead)");
  for (size_t i = 0; i < models.size(); ++i) {
    YamlFields m(models[i], indexed(path + ".models", i), file);
    TG_RETURN_IF_ERROR(m.expect_map({"name", "accelerator", "tensor_parallel", "replicas"}));
    ModelReplicas r;
    TG_ASSIGN_OR_RETURN(std::string name, m.string("name"));
    auto shape = model_shape(name);
    if (!shape.is_ok()) return m.error("name", shape.status().message());
    r.model = shape->name;
    if (site.find_model(r.model)) return m.error("name", "model '" + r.model + "' is listed twice at this site");
    TG_ASSIGN_OR_RETURN(std::string accel, m.string("accelerator"));
    auto kind = parse_accelerator(accel);
    if (!kind.is_ok()) return m.error("accelerator", kind.status().message());
    r.accelerator = *kind;
    TG_ASSIGN_OR_RETURN(r.tensor_parallel, m.integer("tensor_parallel", 1, 64));
    TG_ASSIGN_OR_RETURN(r.replicas, m.integer("replicas", 0, 100000000));
    site.models.push_back(r);
  }
  // Replicas must fit in the site's accelerators, per kind.
  for (const auto& pool : site.accelerators) {
    double used = 0;
    for (const auto& r : site.models)
      if (r.accelerator == pool.kind) used += static_cast<double>(r.replicas) * r.tensor_parallel;
    const int have = site.accelerator_count(pool.kind);
    if (used > have)
      return f.error("models", "replicas x tensor_parallel use " + std::to_string(static_cast<long long>(used)) +
                                   " " + std::string(accelerator_spec(pool.kind).name) + " but the site has " +
                                   std::to_string(have));
  }
  for (const auto& r : site.models)
    if (site.accelerator_count(r.accelerator) == 0)
      return f.error("models", "model '" + r.model + "' runs on " +
                                   std::string(accelerator_spec(r.accelerator).name) +
                                   " but the site lists none under accelerators");

  return Status::ok();
}

Result<Site> parse_site(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields f(node, path, file);
  TG_RETURN_IF_ERROR(f.expect_map({"name", "cloud", "region", "zone", "power_cap_kw", "pue", "contract",
                                   "accelerators", "models", "latency_ms", "cpu_power", "endpoints"}));
  Site site;
  TG_ASSIGN_OR_RETURN(site.name, f.string("name"));
  TG_ASSIGN_OR_RETURN(site.cloud, f.string("cloud"));
  TG_ASSIGN_OR_RETURN(site.region, f.string("region"));
  TG_ASSIGN_OR_RETURN(site.zone, f.string("zone"));
  TG_ASSIGN_OR_RETURN(site.power_cap_kw, f.number("power_cap_kw", 0, 0, 1e9));

  if (f.has("pue")) {
    YamlFields p(node["pue"], path + ".pue", file);
    TG_RETURN_IF_ERROR(p.expect_map({"base", "threshold_c", "rise_per_c", "max"}));
    TG_ASSIGN_OR_RETURN(site.pue.base, p.number("base", site.pue.base, 1.0, 3.0));
    TG_ASSIGN_OR_RETURN(site.pue.threshold_c, p.number("threshold_c", site.pue.threshold_c, -50, 60));
    TG_ASSIGN_OR_RETURN(site.pue.rise_per_c, p.number("rise_per_c", site.pue.rise_per_c, 0, 0.2));
    TG_ASSIGN_OR_RETURN(site.pue.max_pue, p.number("max", std::max(site.pue.max_pue, site.pue.base), 1.0, 3.0));
    if (site.pue.max_pue < site.pue.base) return p.error("max", "must be at least base");
  }
  if (f.has("contract")) {
    YamlFields c(node["contract"], path + ".contract", file);
    TG_RETURN_IF_ERROR(c.expect_map({"ppa_share", "ppa_price_usd_per_mwh"}));
    TG_ASSIGN_OR_RETURN(site.contract.ppa_share, c.number("ppa_share", 0, 0, 1));
    TG_ASSIGN_OR_RETURN(site.contract.ppa_price_usd_per_mwh, c.number("ppa_price_usd_per_mwh", 0, -1e4, 1e5));
    if (site.contract.ppa_share > 0 && !c.has("ppa_price_usd_per_mwh"))
      return c.error("ppa_price_usd_per_mwh", "is required when ppa_share > 0");
  }

  const YAML::Node accels = node["accelerators"];
  if (!accels.IsDefined() || !accels.IsSequence() || accels.size() == 0)
    return f.error("accelerators", "must be a non-empty list of {type, count}");
  for (size_t i = 0; i < accels.size(); ++i) {
    YamlFields a(accels[i], indexed(path + ".accelerators", i), file);
    TG_RETURN_IF_ERROR(a.expect_map({"type", "count"}));
    TG_ASSIGN_OR_RETURN(std::string type, a.string("type"));
    auto kind = parse_accelerator(type);
    if (!kind.is_ok()) return a.error("type", kind.status().message());
    TG_ASSIGN_OR_RETURN(int count, a.integer("count", 1, 100000000));
    site.accelerators.push_back({*kind, count});
  }

  if (f.has("cpu_power")) TG_RETURN_IF_ERROR(parse_cpu_power(node["cpu_power"], path + ".cpu_power", file, site.cpu_power));
  if (f.has("endpoints")) TG_RETURN_IF_ERROR(parse_endpoints(node["endpoints"], path + ".endpoints", file, site));

  // A live site may be described by its endpoints alone; its models are what they serve.
  const bool models_optional = f.has("endpoints") && !f.has("models");
  if (!models_optional) TG_RETURN_IF_ERROR(parse_models(node, path, file, site));

  if (f.has("latency_ms")) {
    const YAML::Node lat = node["latency_ms"];
    if (!lat.IsMap()) return f.error("latency_ms", "must be a map of user region to one-way milliseconds");
    YamlFields l(lat, path + ".latency_ms", file);
    for (const auto& kv : lat) {
      if (!kv.first.IsScalar() || kv.first.Scalar().empty())
        return l.error(kv.first, "", "keys must be user region names");
      const std::string region = kv.first.Scalar();
      TG_ASSIGN_OR_RETURN(double ms, l.number(region, 0, 0, 10000));
      site.latency.push_back({region, ms});
    }
  }
  return site;
}

}  // namespace

Result<std::vector<Site>> parse_sites(const YAML::Node& node, const std::string& file) {
  try {
    if (!node.IsDefined() || !node.IsSequence() || node.size() == 0)
      return invalid_argument(file + ":" + std::to_string(node.IsDefined() ? node.Mark().line + 1 : 1) +
                              ": sites: must be a non-empty list of sites");
    std::vector<Site> sites;
    std::set<std::string> names;
    for (size_t i = 0; i < node.size(); ++i) {
      TG_ASSIGN_OR_RETURN(Site site, parse_site(node[i], indexed("sites", i), file));
      if (!names.insert(site.name).second)
        return YamlFields(node[i], indexed("sites", i), file).error("name", "site '" + site.name + "' is defined twice");
      sites.push_back(std::move(site));
    }
    return sites;
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": sites: " + e.msg);
  }
}

Result<std::vector<PlacementRule>> parse_placement_rules(const YAML::Node& node, const std::string& file) {
  try {
    std::vector<PlacementRule> rules;
    if (!node.IsDefined() || node.IsNull()) return rules;
    if (!node.IsSequence())
      return invalid_argument(file + ":" + std::to_string(node.Mark().line + 1) +
                              ": placement: must be a list of {model, clouds, from, until}");
    for (size_t i = 0; i < node.size(); ++i) {
      YamlFields f(node[i], indexed("placement", i), file);
      TG_RETURN_IF_ERROR(f.expect_map({"model", "clouds", "from", "until"}));
      PlacementRule rule;
      TG_ASSIGN_OR_RETURN(std::string model, f.string("model"));
      auto shape = model_shape(model);
      if (!shape.is_ok()) return f.error("model", shape.status().message());
      rule.model = shape->name;
      const YAML::Node clouds = node[i]["clouds"];
      if (!clouds.IsDefined() || !clouds.IsSequence() || clouds.size() == 0)
        return f.error("clouds", "must be a non-empty list of cloud names");
      for (const auto& c : clouds) {
        if (!c.IsScalar() || c.Scalar().empty()) return f.error(c, "clouds", "entries must be cloud names");
        rule.clouds.push_back(c.Scalar());
      }
      TG_ASSIGN_OR_RETURN(rule.from_unix_s, f.time("from", rule.from_unix_s));
      TG_ASSIGN_OR_RETURN(rule.until_unix_s, f.time("until", rule.until_unix_s));
      if (rule.until_unix_s <= rule.from_unix_s) return f.error("until", "must be after from");
      rules.push_back(std::move(rule));
    }
    return rules;
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": placement: " + e.msg);
  }
}

Result<PolicyParams> parse_policy_params(const YAML::Node& node, const std::string& file) {
  try {
    PolicyParams p;
    if (!node.IsDefined() || node.IsNull()) return p;
    YamlFields f(node, "policy", file);
    TG_RETURN_IF_ERROR(f.expect_map({"carbon_price_usd_per_t", "slo_margin", "prefix_min_hit_tokens"}));
    TG_ASSIGN_OR_RETURN(p.carbon_price_usd_per_t, f.number("carbon_price_usd_per_t", p.carbon_price_usd_per_t, 0, 1e5));
    TG_ASSIGN_OR_RETURN(p.slo_margin, f.number("slo_margin", p.slo_margin, 0.01, 10));
    TG_ASSIGN_OR_RETURN(p.prefix_min_hit_tokens, f.number("prefix_min_hit_tokens", p.prefix_min_hit_tokens, 0, 1e7));
    return p;
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": policy: " + e.msg);
  }
}

Result<GridConfig> parse_grid_config(const std::string& yaml_text, const std::string& file) {
  return read_yaml(yaml_text, file, [&](const YAML::Node& root) -> Result<GridConfig> {
    if (!root.IsMap()) return invalid_argument(file + ":1: expected a map with sites, placement and policy");
    YamlFields f(root, "grid", file);
    TG_RETURN_IF_ERROR(f.expect_map({"sites", "placement", "policy"}));
    GridConfig config;
    TG_ASSIGN_OR_RETURN(config.sites, parse_sites(root["sites"], file));
    TG_ASSIGN_OR_RETURN(config.placement, parse_placement_rules(root["placement"], file));
    TG_ASSIGN_OR_RETURN(config.policy, parse_policy_params(root["policy"], file));
    return config;
  });
}

Result<GridConfig> load_grid_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read grid file " + path + ": check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_grid_config(text.str(), path);
}

}  // namespace tokengrid::grid
