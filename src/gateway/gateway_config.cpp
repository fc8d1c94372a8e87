#include "gateway/gateway_config.h"

#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "grid/clock.h"
#include "grid/policy.h"
#include "grid/yaml_fields.h"

namespace tokengrid::gateway {
namespace {

using grid::YamlFields;

// A byte size: a number of bytes or a string with a unit ("8MiB").
Result<size_t> byte_size(const grid::YamlFields& f, const std::string& field, size_t fallback, size_t lo) {
  if (!f.has(field)) return fallback;
  TG_ASSIGN_OR_RETURN(std::string text, f.string(field));
  auto bytes = http::parse_byte_size(text);
  if (!bytes.is_ok()) return f.error(field, bytes.status().message());
  if (*bytes < lo) return f.error(field, "must be at least " + std::to_string(lo) + " bytes");
  return *bytes;
}

Result<std::chrono::milliseconds> seconds(const grid::YamlFields& f, const std::string& field,
                                          std::chrono::milliseconds fallback) {
  TG_ASSIGN_OR_RETURN(double s, f.number(field, static_cast<double>(fallback.count()) / 1000, 0.001, 86400));
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

Status parse_listen(const YAML::Node& node, const std::string& file, GatewayConfig& out) {
  YamlFields f(node, "listen", file);
  TG_RETURN_IF_ERROR(f.expect_map({"host", "port", "threads", "body_limit", "header_limit", "max_header_count",
                                   "max_connections", "idle_timeout_s", "request_timeout_s"}));
  TG_ASSIGN_OR_RETURN(out.host, f.optional_string("host", out.host));
  if (f.has("port")) {
    TG_ASSIGN_OR_RETURN(int port, f.integer("port", 0, 65535));
    out.port = static_cast<uint16_t>(port);
  }
  if (f.has("threads")) {
    TG_ASSIGN_OR_RETURN(out.threads, f.integer("threads", 1, 256));
  }
  http::HttpLimits& l = out.limits;
  TG_ASSIGN_OR_RETURN(l.body_limit, byte_size(f, "body_limit", l.body_limit, 0));
  TG_ASSIGN_OR_RETURN(l.header_limit, byte_size(f, "header_limit", l.header_limit, 1024));
  if (f.has("max_header_count")) {
    TG_ASSIGN_OR_RETURN(int count, f.integer("max_header_count", 1, 10000));
    l.max_header_count = static_cast<size_t>(count);
  }
  if (f.has("max_connections")) {
    TG_ASSIGN_OR_RETURN(l.max_connections, f.integer("max_connections", 1, 1000000));
  }
  TG_ASSIGN_OR_RETURN(l.idle_timeout, seconds(f, "idle_timeout_s", l.idle_timeout));
  TG_ASSIGN_OR_RETURN(l.request_timeout, seconds(f, "request_timeout_s", l.request_timeout));
  return Status::ok();
}

Status parse_clock(const YAML::Node& node, const std::string& file, ClockConfig& out) {
  YamlFields f(node, "clock", file);
  TG_RETURN_IF_ERROR(f.expect_map({"mode", "start", "speed"}));
  TG_ASSIGN_OR_RETURN(std::string mode, f.optional_string("mode", "real"));
  if (mode != "real" && mode != "replay") return f.error("mode", "must be real or replay, got '" + mode + "'");
  out.replay = mode == "replay";
  if (!out.replay) {
    if (f.has("start") || f.has("speed")) return f.error("mode", "start and speed apply to mode: replay only");
    return Status::ok();
  }
  if (!f.has("start")) return f.error("start", "is required for a replay (a time such as 2024-07-01T00:00Z)");
  TG_ASSIGN_OR_RETURN(out.start_unix_s, f.time("start", 0));
  TG_ASSIGN_OR_RETURN(out.speed, f.number("speed", 1, 0.001, 1e7));
  return Status::ok();
}

Result<FeedSource> parse_feed(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields f(node, path, file);
  TG_RETURN_IF_ERROR(f.expect_map({"url", "interval_s"}));
  FeedSource feed;
  TG_ASSIGN_OR_RETURN(feed.url, f.string("url"));
  if (feed.url.rfind("http://", 0) != 0) return f.error("url", "'" + feed.url + "' must start with http://");
  TG_ASSIGN_OR_RETURN(feed.interval_s, f.number("interval_s", feed.interval_s, 0.05, 86400));
  return feed;
}

Result<ZoneSource> parse_zone_source(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields f(node, path, file);
  TG_RETURN_IF_ERROR(f.expect_map({"csv", "feed"}));
  if (f.has("csv") == f.has("feed")) return f.error("", "needs exactly one of csv or feed");
  ZoneSource source;
  if (f.has("csv")) {
    TG_ASSIGN_OR_RETURN(std::string csv, f.string("csv"));
    source.csv = grid::resolve_path(file, csv);
  } else {
    TG_ASSIGN_OR_RETURN(FeedSource feed, parse_feed(node["feed"], path + ".feed", file));
    source.feed = std::move(feed);
  }
  return source;
}

Status parse_heat_wave(const YAML::Node& node, const std::string& file, SyntheticSource& out) {
  YamlFields f(node, "signals.synthetic.heat_wave", file);
  TG_RETURN_IF_ERROR(f.expect_map({"zone", "day", "days", "extra_c", "peak_price_factor"}));
  TG_ASSIGN_OR_RETURN(std::string zone, f.string("zone"));
  out.heat_wave_zone = zone;
  TG_ASSIGN_OR_RETURN(double day, f.number("day", 0, 0, 3650));
  out.heat_wave.start_unix_s = out.start_unix_s + day * 86400.0;
  TG_ASSIGN_OR_RETURN(out.heat_wave.days, f.number("days", out.heat_wave.days, 0.04, 3650));
  TG_ASSIGN_OR_RETURN(out.heat_wave.extra_c, f.number("extra_c", out.heat_wave.extra_c, 0, 30));
  TG_ASSIGN_OR_RETURN(out.heat_wave.peak_price_factor,
                      f.number("peak_price_factor", out.heat_wave.peak_price_factor, 1, 100));
  return Status::ok();
}

Result<SyntheticSource> parse_synthetic(const YAML::Node& node, const std::string& file, double default_start) {
  YamlFields f(node, "signals.synthetic", file);
  TG_RETURN_IF_ERROR(f.expect_map({"seed", "start", "days", "heat_wave"}));
  SyntheticSource s;
  TG_ASSIGN_OR_RETURN(double seed, f.number("seed", 1, 0, 9.0e15));
  s.seed = static_cast<uint64_t>(seed);
  TG_ASSIGN_OR_RETURN(s.start_unix_s, f.time("start", default_start));
  if (f.has("days")) {
    TG_ASSIGN_OR_RETURN(s.days, f.integer("days", 1, 3660));
  }
  if (f.has("heat_wave")) TG_RETURN_IF_ERROR(parse_heat_wave(node["heat_wave"], file, s));
  return s;
}

Status parse_signals(const YAML::Node& node, const std::string& file, double default_start, SignalsConfig& out) {
  YamlFields f(node, "signals", file);
  TG_RETURN_IF_ERROR(f.expect_map({"dir", "zones", "synthetic"}));
  if (f.has("dir")) {
    TG_ASSIGN_OR_RETURN(std::string dir, f.string("dir"));
    out.dir = grid::resolve_path(file, dir);
  }
  if (f.has("zones")) {
    const YAML::Node zones = node["zones"];
    if (!zones.IsMap()) return f.error("zones", "must be a map of zone name to {csv} or {feed}");
    for (const auto& kv : zones) {
      const std::string zone = kv.first.Scalar();
      TG_ASSIGN_OR_RETURN(ZoneSource source, parse_zone_source(kv.second, "signals.zones." + zone, file));
      out.zones[zone] = std::move(source);
    }
  }
  if (f.has("synthetic")) {
    TG_ASSIGN_OR_RETURN(SyntheticSource synthetic, parse_synthetic(node["synthetic"], file, default_start));
    out.synthetic = std::move(synthetic);
  }
  if (out.dir.empty() && out.zones.empty() && !out.synthetic)
    return f.error("", "needs at least one of dir, zones or synthetic");
  return Status::ok();
}

Status parse_policy(const YAML::Node& node, const std::string& file, GatewayConfig& out) {
  YAML::Node params = YAML::Clone(node);
  if (node.IsMap() && node["name"]) {
    YamlFields f(node, "policy", file);
    TG_ASSIGN_OR_RETURN(out.policy, f.string("name"));
    params.remove("name");
    auto policy = grid::make_policy(out.policy);
    if (!policy.is_ok()) return f.error("name", policy.status().message());
  }
  TG_ASSIGN_OR_RETURN(out.grid.policy, grid::parse_policy_params(params, file));
  return Status::ok();
}

Status parse_health(const YAML::Node& node, const std::string& file, GatewayConfig& out) {
  YamlFields h(node, "health", file);
  TG_RETURN_IF_ERROR(h.expect_map({"interval_ms", "timeout_ms", "unhealthy_threshold", "healthy_threshold",
                                   "consecutive_failures", "base_ejection_s", "max_ejection_s"}));
  TG_ASSIGN_OR_RETURN(double interval, h.number("interval_ms", out.poll_interval_ms, 10, 600000));
  TG_ASSIGN_OR_RETURN(double timeout, h.number("timeout_ms", out.check_timeout_ms, 10, 600000));
  out.poll_interval_ms = static_cast<int>(interval);
  out.check_timeout_ms = static_cast<int>(timeout);
  HealthOptions& o = out.health;
  TG_ASSIGN_OR_RETURN(double unhealthy, h.number("unhealthy_threshold", o.unhealthy_threshold, 1, 1000));
  TG_ASSIGN_OR_RETURN(double healthy, h.number("healthy_threshold", o.healthy_threshold, 1, 1000));
  TG_ASSIGN_OR_RETURN(double failures, h.number("consecutive_failures", o.consecutive_failures, 1, 1000));
  o.unhealthy_threshold = static_cast<int>(unhealthy);
  o.healthy_threshold = static_cast<int>(healthy);
  o.consecutive_failures = static_cast<int>(failures);
  TG_ASSIGN_OR_RETURN(o.base_ejection_s, h.number("base_ejection_s", o.base_ejection_s, 0.01, 86400));
  TG_ASSIGN_OR_RETURN(o.max_ejection_s, h.number("max_ejection_s", o.max_ejection_s, o.base_ejection_s, 86400 * 7));
  return Status::ok();
}

Status parse_failover(const YAML::Node& node, const std::string& file, FailoverOptions& o) {
  YamlFields f(node, "failover", file);
  TG_RETURN_IF_ERROR(f.expect_map({"retries", "backoff_ms", "retry_budget", "ttft_s", "inter_token_s", "whole_answer_tokens"}));
  TG_ASSIGN_OR_RETURN(double retries, f.number("retries", o.retries, 0, 16));
  o.retries = static_cast<int>(retries);
  TG_ASSIGN_OR_RETURN(o.backoff_ms, f.number("backoff_ms", o.backoff_ms, 0, 60000));
  TG_ASSIGN_OR_RETURN(o.retry_budget, f.number("retry_budget", o.retry_budget, 0, 1));
  TG_ASSIGN_OR_RETURN(o.ttft_s, f.number("ttft_s", o.ttft_s, 0.01, 86400));
  TG_ASSIGN_OR_RETURN(o.inter_token_s, f.number("inter_token_s", o.inter_token_s, 0.01, 86400));
  TG_ASSIGN_OR_RETURN(int64_t whole, f.optional_integer("whole_answer_tokens", o.whole_answer_tokens, 0, 1000000));
  o.whole_answer_tokens = static_cast<int>(whole);
  return Status::ok();
}

Status parse_control_plane(const YAML::Node& node, const std::string& file, ControlPlaneConfig& o) {
  YamlFields f(node, "control_plane", file);
  TG_RETURN_IF_ERROR(f.expect_map({"etcd", "prefix", "lease_ttl_s", "redis"}));
  TG_ASSIGN_OR_RETURN(o.etcd, f.optional_string("etcd", o.etcd));
  if (!o.etcd.empty() && !o.etcd.starts_with("etcd://") && !o.etcd.starts_with("http://"))
    return f.error("etcd", "must be etcd://HOST:PORT, got '" + o.etcd + "'");
  TG_ASSIGN_OR_RETURN(o.prefix, f.optional_string("prefix", o.prefix));
  if (!o.prefix.starts_with("/") || !o.prefix.ends_with("/")) return f.error("prefix", "must start and end with '/'");
  TG_ASSIGN_OR_RETURN(double ttl, f.number("lease_ttl_s", static_cast<double>(o.lease_ttl_s), 1, 300));
  o.lease_ttl_s = static_cast<int>(ttl);
  return Status::ok();
}

Status parse_batch(const YAML::Node& node, const std::string& file, BatchOptions& o) {
  YamlFields f(node, "batch", file);
  TG_RETURN_IF_ERROR(f.expect_map({"path", "schedule", "share", "max_in_flight", "preempt"}));
  TG_ASSIGN_OR_RETURN(std::string path, f.string("path"));
  o.path = grid::resolve_path(file, path);
  TG_ASSIGN_OR_RETURN(std::string schedule, f.optional_string("schedule", "planned"));
  if (schedule != "planned" && schedule != "at_once")
    return f.error("schedule", "must be planned (the cheapest and greenest hours and sites of the window) or at_once, got '" +
                                   schedule + "'");
  o.planned = schedule == "planned";
  TG_ASSIGN_OR_RETURN(o.share, f.number("share", o.share, 0.01, 1));
  TG_ASSIGN_OR_RETURN(double in_flight, f.number("max_in_flight", o.max_in_flight, 1, 100000));
  o.max_in_flight = static_cast<int>(in_flight);
  TG_ASSIGN_OR_RETURN(o.preempt, f.boolean("preempt", o.preempt));
  return Status::ok();
}

// control_plane: {redis: URL} and limits: {on_store_failure: open|closed, replicas: N}.
Status parse_shared_store(const YAML::Node& root, const std::string& file, SharedStateConfig& o) {
  YamlFields top(root, "", file);
  if (top.has("control_plane")) {
    YamlFields c(root["control_plane"], "control_plane", file);
    TG_ASSIGN_OR_RETURN(o.redis_url, c.optional_string("redis", o.redis_url));
    if (!o.redis_url.empty()) {
      auto url = controlplane::parse_redis_url(o.redis_url);
      if (!url) return c.error("redis", url.status().message());
    }
  }
  if (!top.has("limits")) return Status::ok();
  YamlFields l(root["limits"], "limits", file);
  TG_RETURN_IF_ERROR(l.expect_map({"on_store_failure", "replicas"}));
  TG_ASSIGN_OR_RETURN(std::string mode, l.optional_string("on_store_failure", failure_mode_name(o.on_store_failure)));
  if (mode != "open" && mode != "closed")
    return l.error("on_store_failure", "must be open (each replica enforces its share of the limits) or closed (refuse "
                                       "with 503 while the store is down), got '" + mode + "'");
  o.on_store_failure = mode == "open" ? StoreFailureMode::kOpen : StoreFailureMode::kClosed;
  TG_ASSIGN_OR_RETURN(int64_t replicas, l.optional_integer("replicas", o.replicas, 0, 10000));
  o.replicas = static_cast<int>(replicas);
  return Status::ok();
}

Status parse_small_sections(const YAML::Node& root, const std::string& file, GatewayConfig& out) {
  YamlFields top(root, "", file);
  TG_RETURN_IF_ERROR(parse_shared_store(root, file, out.shared));
  TG_ASSIGN_OR_RETURN(out.replica, top.optional_string("replica", out.replica));
  TG_ASSIGN_OR_RETURN(out.default_region, top.optional_string("default_region", out.default_region));
  if (top.has("ledger")) {
    YamlFields l(root["ledger"], "ledger", file);
    TG_RETURN_IF_ERROR(l.expect_map({"path"}));
    TG_ASSIGN_OR_RETURN(std::string path, l.string("path"));
    out.ledger_path = grid::resolve_path(file, path);
  }
  if (top.has("batch")) TG_RETURN_IF_ERROR(parse_batch(root["batch"], file, out.batch));
  if (top.has("health")) TG_RETURN_IF_ERROR(parse_health(root["health"], file, out));
  if (top.has("failover")) TG_RETURN_IF_ERROR(parse_failover(root["failover"], file, out.failover));
  if (top.has("control_plane")) TG_RETURN_IF_ERROR(parse_control_plane(root["control_plane"], file, out.control_plane));
  return Status::ok();
}

// Every site's zone has a source, and every site has endpoints to send work to (with a control
// plane a site may leave them to its registration).
Status check_sites(const YAML::Node& root, const std::string& file, const GatewayConfig& c) {
  for (size_t i = 0; i < c.grid.sites.size(); ++i) {
    const grid::Site& site = c.grid.sites[i];
    YamlFields f(root["sites"][i], grid::indexed("sites", i), file);
    if (site.endpoints.empty() && c.control_plane.etcd.empty())
      return f.error("endpoints", "is required in a gateway's grid file: the servers to send '" + site.name +
                                      "' its requests (endpoints: [] waits for the site to register, with a "
                                      "control_plane)");
    const bool has_source = c.signals.zones.count(site.zone) || !c.signals.dir.empty() || c.signals.synthetic;
    if (!has_source) return f.error("zone", "zone '" + site.zone + "' has no signals: add it under signals");
  }
  return Status::ok();
}

}  // namespace

std::string default_replica_name(uint16_t port) {
  char host[256] = {};
  const std::string name = gethostname(host, sizeof host - 1) != 0 || host[0] == '\0' ? "gateway" : host;
  return name + ":" + std::to_string(port);
}

Result<GatewayConfig> parse_gateway_config(const std::string& yaml_text, const std::string& file) {
  GatewayConfig c;
  c.file = file;

  try {
    const YAML::Node root = YAML::Load(yaml_text);
    YamlFields top(root, "", file);
    TG_RETURN_IF_ERROR(top.expect_map({"listen", "replica", "clock", "signals", "policy", "default_region",
                                       "ledger", "batch", "health", "failover", "keys", "control_plane", "limits",
                                       "sites", "placement"}));
    if (top.has("listen")) TG_RETURN_IF_ERROR(parse_listen(root["listen"], file, c));
    c.replica = default_replica_name(c.port);
    if (top.has("clock")) TG_RETURN_IF_ERROR(parse_clock(root["clock"], file, c.clock));
    const double default_start = c.clock.replay ? c.clock.start_unix_s : grid::SystemClock().now_unix_s();
    if (!top.has("signals")) return top.error("signals", "is required: where each zone's price and carbon come from");
    TG_RETURN_IF_ERROR(parse_signals(root["signals"], file, default_start, c.signals));
    if (top.has("policy")) TG_RETURN_IF_ERROR(parse_policy(root["policy"], file, c));
    TG_RETURN_IF_ERROR(parse_small_sections(root, file, c));
    if (top.has("keys")) {
      TG_ASSIGN_OR_RETURN(c.keys, parse_keys(root["keys"], file));
    }
    TG_ASSIGN_OR_RETURN(c.grid.sites, grid::parse_sites(root["sites"], file));
    TG_ASSIGN_OR_RETURN(c.grid.placement, grid::parse_placement_rules(root["placement"], file));
    TG_RETURN_IF_ERROR(check_sites(root, file, c));
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

Result<GatewayConfig> load_gateway_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read the grid file " + path + ": check the path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_gateway_config(text.str(), path);
}

}  // namespace tokengrid::gateway
