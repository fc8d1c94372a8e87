#include "sim/report_html.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "grid/clock.h"
#include "web/web_assets.h"

namespace tokengrid::sim {

namespace {

using json = nlohmann::ordered_json;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Text placed inside <script> or <style> must not close the element early.
std::string inline_safe(std::string_view text, std::string_view closing) {
  std::string out(text);
  for (size_t at = out.find(closing); at != std::string::npos; at = out.find(closing, at + 2)) out.insert(at + 1, "\\");
  return out;
}

// Six significant digits: the charts need no more, and the file stays small.
double short_number(double v) { return std::strtod(fmt("%.6g", v).c_str(), nullptr); }

const SimResult* latency_first_of(const std::vector<SimResult>& results) {
  for (const SimResult& r : results)
    if (r.policy == "latency-first") return &r;
  return nullptr;
}

std::string change_cell(double value, double base) {
  if (base == 0) return "<td>–</td>";
  const double pct = 100 * (value - base) / base;
  const char* cls = pct < -0.05 ? "better" : pct > 0.05 ? "worse" : "";
  return std::string("<td class='") + cls + "'>" + fmt("%+.1f%%", pct) + "</td>";
}

std::string description(const Scenario& sc, const std::vector<SimResult>& results) {
  if (results.empty()) return "";
  return "<p>" + std::to_string(results[0].hours) + " hours from " + grid::format_utc_hour(sc.start_unix_s) +
         ", model " + escape(sc.model) + ", " + std::to_string(sc.sites.size()) + " sites, seed " +
         std::to_string(sc.seed) + ", " + (results[0].mode == SimMode::kRequest ? "request-level" : "fleet") +
         " mode. SLO: TTFT &le; " + fmt("%.3g", sc.slo.ttft_s) + " s and TPOT &le; " + fmt("%.3g", sc.slo.tpot_s) +
         " s.</p>";
}

std::string policies_table(const std::vector<SimResult>& results) {
  const SimResult* base = latency_first_of(results);
  std::string html =
      "<div class='scroll'><table class='data' id='policies'><tr><th>policy</th><th>cost USD</th><th>energy MWh</th>"
      "<th>carbon t</th><th>SLO attainment</th><th>TTFT p50 / p99 s</th><th>TPOT p50 / p99 s</th><th>utilization</th>"
      "<th>surplus GPU-h</th><th>deferred</th>";
  if (base) html += "<th>cost vs latency-first</th><th>energy vs latency-first</th><th>carbon vs latency-first</th>";
  html += "</tr>";
  const SiteHourRow b = base ? base->total() : SiteHourRow{};
  for (const SimResult& r : results) {
    const SiteHourRow t = r.total();
    html += "<tr><td>" + escape(r.policy) + "</td><td>" + fmt("%.0f", t.cost_usd) + "</td><td>" +
            fmt("%.2f", t.facility_kwh / 1000) + "</td><td>" + fmt("%.2f", t.carbon_kg / 1000) + "</td><td>" +
            fmt("%.2f%%", 100 * r.attainment()) + "</td><td>" + fmt("%.3f", r.ttft.quantile(0.5)) + " / " +
            fmt("%.3f", r.ttft.quantile(0.99)) + "</td><td>" + fmt("%.4f", r.tpot.quantile(0.5)) + " / " +
            fmt("%.4f", r.tpot.quantile(0.99)) + "</td><td>" +
            fmt("%.1f%%", t.gpu_hours > 0 ? 100 * t.work_gpu_hours / t.gpu_hours : 0) + "</td><td>" +
            fmt("%.0f", t.gpu_hours - t.work_gpu_hours) + "</td><td>" + fmt("%.0f", r.deferred) + "</td>";
    if (base)
      html += change_cell(t.cost_usd, b.cost_usd) + change_cell(t.facility_kwh, b.facility_kwh) +
              change_cell(t.carbon_kg, b.carbon_kg);
    html += "</tr>";
  }
  return html + "</table></div>";
}

std::string sites_table(const SimResult& r) {
  std::string html = "<h3>" + escape(r.policy) +
                     "</h3><div class='scroll'><table class='data'><tr><th>site</th><th>request share</th>"
                     "<th>energy MWh</th><th>cost USD</th><th>carbon t</th><th>utilization</th></tr>";
  const SiteHourRow t = r.total();
  for (size_t s = 0; s < r.site_names.size(); ++s) {
    const SiteHourRow st = r.site_total(s);
    html += "<tr><td>" + escape(r.site_names[s]) + "</td><td>" +
            fmt("%.1f%%", t.requests > 0 ? 100 * st.requests / t.requests : 0) + "</td><td>" +
            fmt("%.2f", st.facility_kwh / 1000) + "</td><td>" + fmt("%.0f", st.cost_usd) + "</td><td>" +
            fmt("%.2f", st.carbon_kg / 1000) + "</td><td>" +
            fmt("%.1f%%", st.gpu_hours > 0 ? 100 * st.work_gpu_hours / st.gpu_hours : 0) + "</td></tr>";
  }
  return html + "</table></div>";
}

// Per site, per hour, one figure of a row.
template <typename Field>
json site_hours(const SimResult& r, Field field) {
  json sites = json::array();
  for (size_t s = 0; s < r.site_names.size(); ++s) {
    json hours = json::array();
    for (int h = 0; h < r.hours; ++h) hours.push_back(short_number(field(r.row(s, h))));
    sites.push_back(std::move(hours));
  }
  return sites;
}

json policy_json(const SimResult& r) {
  const SiteHourRow t = r.total();
  return {{"name", r.policy},
          {"cost_usd", short_number(t.cost_usd)},
          {"facility_mwh", short_number(t.facility_kwh / 1000)},
          {"carbon_t", short_number(t.carbon_kg / 1000)},
          {"slo_attainment_pct", short_number(100 * r.attainment())},
          {"site_hours",
           {{"requests", site_hours(r, [](const SiteHourRow& x) { return x.requests; })},
            {"facility_mw", site_hours(r, [](const SiteHourRow& x) { return x.facility_kwh / 1000; })},
            {"cost_usd", site_hours(r, [](const SiteHourRow& x) { return x.cost_usd; })},
            {"carbon_kg", site_hours(r, [](const SiteHourRow& x) { return x.carbon_kg; })},
            {"price_usd_per_mwh", site_hours(r, [](const SiteHourRow& x) { return x.price_usd_per_mwh; })},
            {"carbon_g_per_kwh", site_hours(r, [](const SiteHourRow& x) { return x.carbon_g_per_kwh; })}}}};
}

std::string charts_and_script(const Scenario& sc, const std::vector<SimResult>& results) {
  const web::WebAsset* script = web::find_web_asset("report/report.js");
  if (!script)
    return "<p class='muted'>This report has no charts: tokengrid was built without the npm packages of "
           "web/dashboard (scripts/setup.sh installs them).</p>";
  return "<div id='report-charts'></div><script type='application/json' id='tokengrid-report-data'>" +
         inline_safe(report_data_json(sc, results), "</") + "</script><script>" +
         inline_safe(script->body, "</script") + "</script>";
}

}  // namespace

std::string report_data_json(const Scenario& sc, const std::vector<SimResult>& results) {
  json sites = json::array();
  for (const grid::Site& s : sc.sites) sites.push_back({{"name", s.name}, {"zone", s.zone}, {"power_cap_kw", s.power_cap_kw}});
  json policies = json::array();
  for (const SimResult& r : results) policies.push_back(policy_json(r));
  return json{{"name", sc.name},
              {"start_unix_s", sc.start_unix_s},
              {"hours", results.empty() ? 0 : results[0].hours},
              {"sites", sites},
              {"policies", policies}}
      .dump();
}

std::string report_html(const Scenario& sc, const std::vector<SimResult>& results) {
  const web::WebAsset* style = web::find_web_asset("report/report.css");
  std::string html = "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                     "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                     "<meta name='color-scheme' content='light dark'><title>tokengrid sim: " +
                     escape(sc.name) + "</title><link rel='icon' href='data:,'>";
  if (style) html += "<style>" + inline_safe(style->body, "</style") + "</style>";
  html += "</head><body><header class='top'><h1>tokengrid sim: " + escape(sc.name) +
          "</h1><span class='spacer'></span><button type='button' data-theme-toggle>theme</button></header><main>";
  html += "<section class='panel'>" + description(sc, results) + "<h2>Policies side by side</h2>" +
          policies_table(results) + "</section>";
  html += charts_and_script(sc, results);
  html += "<section class='panel'><h2>Sites by policy</h2>";
  for (const SimResult& r : results) html += sites_table(r);
  html += "</section></main></body></html>\n";
  return html;
}

}  // namespace tokengrid::sim
