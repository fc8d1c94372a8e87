#include "sim/report_html.h"

#include <algorithm>
#include <cstdio>

#include "grid/clock.h"

namespace tokengrid::sim {

namespace {

const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                         "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};

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

// Horizontal bars, one per policy.
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels, const std::vector<double>& values,
                      const char* value_format) {
  const int w = 420, row = 26, left = 120;
  const int h = 30 + row * static_cast<int>(values.size());
  double top = 0;
  for (double v : values) top = std::max(top, v);
  if (top <= 0) top = 1;
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(w) + "' height='" +
                    std::to_string(h) + "'><text x='4' y='16' font-size='13' font-weight='bold'>" + escape(title) +
                    "</text>";
  for (size_t i = 0; i < values.size(); ++i) {
    const int y = 26 + row * static_cast<int>(i);
    const double len = (w - left - 70) * std::max(0.0, values[i]) / top;
    svg += "<text x='4' y='" + std::to_string(y + 14) + "' font-size='12'>" + escape(labels[i]) + "</text>";
    svg += "<rect x='" + std::to_string(left) + "' y='" + std::to_string(y + 3) + "' width='" + fmt("%.1f", len) +
           "' height='16' fill='" + kColors[i % 12] + "'/>";
    svg += "<text x='" + fmt("%.1f", left + len + 4) + "' y='" + std::to_string(y + 15) + "' font-size='11'>" +
           fmt(value_format, values[i]) + "</text>";
  }
  return svg + "</svg>";
}

// One line per series over the hours of the horizon.
std::string line_chart(const std::string& title, const std::string& unit, const std::vector<std::string>& names,
                       const std::vector<std::vector<double>>& series, int hours) {
  const int w = 860, h = 260, left = 60, right = 160, top = 24, bottom = 30;
  double hi = 0;
  for (const auto& s : series)
    for (double v : s) hi = std::max(hi, v);
  if (hi <= 0) hi = 1;
  const double pw = w - left - right, ph = h - top - bottom;
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(w) + "' height='" +
                    std::to_string(h) + "'><text x='4' y='16' font-size='13' font-weight='bold'>" + escape(title) +
                    "</text>";
  svg += "<line x1='" + std::to_string(left) + "' y1='" + fmt("%.0f", top + ph) + "' x2='" + fmt("%.0f", left + pw) +
         "' y2='" + fmt("%.0f", top + ph) + "' stroke='#888'/>";
  svg += "<line x1='" + std::to_string(left) + "' y1='" + std::to_string(top) + "' x2='" + std::to_string(left) +
         "' y2='" + fmt("%.0f", top + ph) + "' stroke='#888'/>";
  svg += "<text x='4' y='" + std::to_string(top + 10) + "' font-size='11'>" + fmt("%.3g", hi) + "</text>";
  svg += "<text x='4' y='" + fmt("%.0f", top + ph) + "' font-size='11'>0 " + escape(unit) + "</text>";
  svg += "<text x='" + fmt("%.0f", left + pw - 60) + "' y='" + std::to_string(h - 8) + "' font-size='11'>" +
         std::to_string(hours) + " h</text>";
  for (size_t i = 0; i < series.size(); ++i) {
    std::string pts;
    const auto& s = series[i];
    for (size_t x = 0; x < s.size(); ++x) {
      const double px = left + (s.size() > 1 ? pw * static_cast<double>(x) / static_cast<double>(s.size() - 1) : 0);
      const double py = top + ph - ph * std::max(0.0, s[x]) / hi;
      pts += fmt("%.1f", px) + "," + fmt("%.1f", py) + " ";
    }
    svg += "<polyline fill='none' stroke-width='1.2' stroke='" + std::string(kColors[i % 12]) + "' points='" + pts + "'/>";
    svg += "<text x='" + fmt("%.0f", left + pw + 8) + "' y='" + std::to_string(top + 12 + 14 * static_cast<int>(i)) +
           "' font-size='11' fill='" + kColors[i % 12] + "'>" + escape(names[i]) + "</text>";
  }
  return svg + "</svg>";
}

}  // namespace

std::string report_html(const Scenario& sc, const std::vector<SimResult>& results) {
  std::string html =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tokengrid sim: " + escape(sc.name) +
      "</title><style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
      "td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}</style></head><body>";
  html += "<h1>tokengrid sim: " + escape(sc.name) + "</h1>";
  if (!results.empty())
    html += "<p>" + std::to_string(results[0].hours) + " hours from " + grid::format_utc_hour(sc.start_unix_s) +
            ", model " + escape(sc.model) + ", " + std::to_string(sc.sites.size()) + " sites, seed " +
            std::to_string(sc.seed) + ", " + (results[0].mode == SimMode::kRequest ? "request-level" : "fleet") +
            " mode. SLO: TTFT &le; " + fmt("%.3g", sc.slo.ttft_s) + " s and TPOT &le; " + fmt("%.3g", sc.slo.tpot_s) +
            " s.</p>";
  html += "<h2>Policies side by side</h2><table><tr><th>policy</th><th>cost USD</th><th>energy MWh</th><th>carbon t</th>"
          "<th>SLO attainment</th><th>TTFT p50 / p99 s</th><th>TPOT p50 / p99 s</th><th>utilization</th>"
          "<th>surplus GPU-h</th><th>deferred</th></tr>";
  std::vector<std::string> names;
  std::vector<double> cost, energy, carbon, attain;
  for (const SimResult& r : results) {
    const SiteHourRow t = r.total();
    names.push_back(r.policy);
    cost.push_back(t.cost_usd);
    energy.push_back(t.facility_kwh / 1000);
    carbon.push_back(t.carbon_kg / 1000);
    attain.push_back(100 * r.attainment());
    html += "<tr><td>" + escape(r.policy) + "</td><td>" + fmt("%.0f", t.cost_usd) + "</td><td>" +
            fmt("%.2f", t.facility_kwh / 1000) + "</td><td>" + fmt("%.2f", t.carbon_kg / 1000) + "</td><td>" +
            fmt("%.2f%%", 100 * r.attainment()) + "</td><td>" + fmt("%.3f", r.ttft.quantile(0.5)) + " / " +
            fmt("%.3f", r.ttft.quantile(0.99)) + "</td><td>" + fmt("%.4f", r.tpot.quantile(0.5)) + " / " +
            fmt("%.4f", r.tpot.quantile(0.99)) + "</td><td>" +
            fmt("%.1f%%", t.gpu_hours > 0 ? 100 * t.work_gpu_hours / t.gpu_hours : 0) + "</td><td>" +
            fmt("%.0f", t.gpu_hours - t.work_gpu_hours) + "</td><td>" + fmt("%.0f", r.deferred) + "</td></tr>";
  }
  html += "</table><div class='charts'>";
  html += bar_chart("Energy cost (USD)", names, cost, "%.0f");
  html += bar_chart("Facility energy (MWh)", names, energy, "%.2f");
  html += bar_chart("Carbon (t CO2e)", names, carbon, "%.2f");
  html += bar_chart("SLO attainment (%)", names, attain, "%.2f");
  html += "</div>";
  if (!results.empty()) {
    std::vector<std::vector<double>> power(results.size()), cost_h(results.size());
    for (size_t i = 0; i < results.size(); ++i)
      for (int h = 0; h < results[i].hours; ++h) {
        double mw = 0, usd = 0;
        for (size_t s = 0; s < results[i].site_names.size(); ++s) {
          mw += results[i].row(s, h).facility_kwh / 1000;
          usd += results[i].row(s, h).cost_usd;
        }
        power[i].push_back(mw);
        cost_h[i].push_back(usd);
      }
    html += line_chart("Fleet facility power by policy (MW, hourly mean)", "MW", names, power, results[0].hours);
    html += line_chart("Fleet energy cost by policy (USD per hour)", "USD", names, cost_h, results[0].hours);
  }
  for (const SimResult& r : results) {
    html += "<h2>" + escape(r.policy) + "</h2><table><tr><th>site</th><th>request share</th><th>energy MWh</th>"
            "<th>cost USD</th><th>carbon t</th><th>utilization</th></tr>";
    const SiteHourRow t = r.total();
    std::vector<std::vector<double>> power(r.site_names.size()), price(r.site_names.size());
    for (size_t s = 0; s < r.site_names.size(); ++s) {
      const SiteHourRow st = r.site_total(s);
      html += "<tr><td>" + escape(r.site_names[s]) + "</td><td>" +
              fmt("%.1f%%", t.requests > 0 ? 100 * st.requests / t.requests : 0) + "</td><td>" +
              fmt("%.2f", st.facility_kwh / 1000) + "</td><td>" + fmt("%.0f", st.cost_usd) + "</td><td>" +
              fmt("%.2f", st.carbon_kg / 1000) + "</td><td>" +
              fmt("%.1f%%", st.gpu_hours > 0 ? 100 * st.work_gpu_hours / st.gpu_hours : 0) + "</td></tr>";
      for (int h = 0; h < r.hours; ++h) {
        power[s].push_back(r.row(s, h).facility_kwh / 1000);
        price[s].push_back(r.row(s, h).price_usd_per_mwh);
      }
    }
    html += "</table>";
    html += line_chart(r.policy + ": facility power by site (MW, hourly mean)", "MW", r.site_names, power, r.hours);
    if (&r == &results.front())
      html += line_chart("Energy price under each site's contract (USD/MWh)", "USD/MWh", r.site_names, price, r.hours);
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace tokengrid::sim
