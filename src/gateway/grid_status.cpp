#include "gateway/grid_status.h"

#include <nlohmann/json.hpp>

#include "gateway/baseline.h"
#include "grid/clock.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

json totals_json(const ActivityTotals& t) {
  return {{"requests", t.requests}, {"tokens", t.tokens}, {"facility_wh", t.facility_wh}, {"usd", t.usd},
          {"g_co2e", t.g_co2e}};
}

json footprint_json(const ActivityTotals& t) {
  return {{"facility_wh", t.facility_wh}, {"usd", t.usd}, {"g_co2e", t.g_co2e}};
}

json site_json(const SiteStatus& s, const ActivityTotals& since_start) {
  json endpoints = json::array();
  for (const EndpointStatus& e : s.endpoints) {
    endpoints.push_back({{"url", e.url},
                         {"healthy", e.healthy},
                         {"reason", e.reason},
                         {"ejections", e.ejections},
                         {"outstanding", e.outstanding},
                         {"running", e.report.running},
                         {"queued", e.report.queued},
                         {"package_watts", e.report.measured_watts}});
  }
  return {{"name", s.name},
          {"cloud", s.cloud},
          {"region", s.region},
          {"zone", s.zone},
          {"healthy", s.healthy},
          {"joined", s.joined},
          {"left", s.left},
          {"health_reason", s.health_reason},
          {"draining", s.draining},
          {"outstanding_requests", s.outstanding_requests},
          {"outstanding_tokens", s.outstanding_tokens},
          {"it_watts", s.it_watts},
          {"facility_kw", s.facility_kw},
          {"power_cap_kw", s.power_cap_kw},
          {"pue", s.pue},
          {"price_usd_per_mwh", s.price_usd_per_mwh},
          {"spot_price_usd_per_mwh", s.signal.price_usd_per_mwh},
          {"carbon_g_per_kwh", s.signal.carbon_g_per_kwh},
          {"temp_c", s.signal.temp_c},
          {"curtailed", s.signal.curtailed},
          {"prefill_tokens_per_s", s.observed.prefill_tokens_per_s},
          {"stream_decode_tokens_per_s", s.observed.stream_decode_tokens_per_s},
          {"since_start", totals_json(since_start)},
          {"endpoints", endpoints}};
}

json minutes_json(const GridStatusInput& in) {
  json out = json::array();
  for (const MinuteBucket& m : in.minutes) {
    json sites = json::object();
    for (size_t i = 0; i < m.sites.size() && i < in.sites.size(); ++i) sites[in.sites[i].name] = totals_json(m.sites[i]);
    out.push_back({{"minute_unix_s", m.minute * 60},
                   {"signal_unix_s", m.signal_unix_s},
                   {"sites", sites},
                   {"baseline", footprint_json(m.baseline)}});
  }
  return out;
}

json decisions_json(const std::vector<DecisionRecord>& decisions) {
  json out = json::array();
  for (const DecisionRecord& d : decisions) {
    out.push_back({{"id", d.request_id},
                   {"wall_unix_s", d.wall_unix_s},
                   {"signal_unix_s", d.signal_unix_s},
                   {"model", d.model},
                   {"region", d.region},
                   {"key", d.key},
                   {"site", d.site},
                   {"status", d.status},
                   {"reason", d.reason},
                   {"prompt_tokens", d.prompt_tokens},
                   {"completion_tokens", d.completion_tokens},
                   {"facility_wh", d.facility_wh},
                   {"usd", d.usd},
                   {"g_co2e", d.g_co2e},
                   {"baseline_site", d.baseline_site},
                   {"baseline_facility_wh", d.baseline_facility_wh},
                   {"baseline_usd", d.baseline_usd},
                   {"baseline_g_co2e", d.baseline_g_co2e}});
  }
  return out;
}

}  // namespace

std::string grid_status_json(const GridStatusInput& in) {
  json sites = json::array();
  for (size_t i = 0; i < in.sites.size(); ++i)
    sites.push_back(site_json(in.sites[i], i < in.totals.size() ? in.totals[i] : ActivityTotals{}));
  json doc = {{"object", "grid"},
              {"replica", in.replica},
              {"clock",
               {{"wall_unix_s", in.wall_unix_s},
                {"signal_unix_s", in.signal_unix_s},
                {"signal_utc", grid::format_utc_hour(in.signal_unix_s)},
                {"speed", in.clock_speed}}},
              {"policy",
               {{"name", in.policy},
                {"carbon_price_usd_per_t", in.params.carbon_price_usd_per_t},
                {"slo_margin", in.params.slo_margin},
                {"prefix_min_hit_tokens", in.params.prefix_min_hit_tokens},
                {"available", in.policies},
                {"switch_requires_key", in.switch_requires_key}}},
              {"sites", sites},
              {"minutes", minutes_json(in)},
              {"decisions", decisions_json(in.decisions)},
              {"comparison",
               {{"baseline_policy", kBaselinePolicy},
                {"requests", in.comparison.actual.requests},
                {"actual", footprint_json(in.comparison.actual)},
                {"baseline", footprint_json(in.comparison.baseline)}}}};
  if (!in.batches.empty()) doc["batches"] = json::parse(in.batches, nullptr, false);
  doc["shared_store"] = in.shared_store.empty() ? json{{"store", "memory"}} : json::parse(in.shared_store, nullptr, false);
  if (!in.control_plane.empty()) doc["control_plane"] = json::parse(in.control_plane, nullptr, false);
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);  // a client may name any bytes as its region
}

}  // namespace tokengrid::gateway
