#include "gateway/grid_top.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

double number(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

std::string text(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool flag(const json& j, const char* key, bool otherwise) {
  if (!j.is_object()) return otherwise;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : otherwise;
}

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

std::string format(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// "12.3 W" below 1 kW, "4.56 kW" above.
std::string power(double kw) { return kw < 1 ? format("%.1f W", kw * 1000) : format("%.2f kW", kw); }

// An energy, cost or carbon figure in a few characters that keep its significant digits: a
// request's share is often a thousandth of a Wh or a millionth of a dollar, which a fixed
// number of decimals would show as 0.000.
std::string figure(double v) {
  const double a = std::fabs(v);
  if (a == 0 || !std::isfinite(v)) return a == 0 ? "0" : format("%g", v);
  if (a >= 100) return format("%.0f", v);
  if (a >= 1) return format("%.2f", v);
  if (a >= 1e-4) return format("%.3g", v);  // 0.123, 0.00042
  return format("%.2g", v);                 // 4.2e-05
}

std::string change(double value, double base) {
  if (base <= 0) return "–";
  return format("%+.1f%%", 100 * (value - base) / base);
}

std::string fit(std::string s, size_t width) {
  if (s.size() > width) s.resize(width);
  return s;
}

struct SiteBadge {
  std::string label;
  const char* color;
};

SiteBadge site_status(const json& site) {
  if (!flag(site, "healthy", true)) return {"DOWN", "\033[31m"};
  if (flag(site, "draining", false)) return {"draining", "\033[33m"};
  for (const json& e : member(site, "endpoints").is_array() ? member(site, "endpoints") : json::array())
    if (!flag(e, "healthy", true)) return {"degraded", "\033[33m"};
  return {"healthy", "\033[32m"};
}

std::string site_line(const json& site, bool color) {
  const SiteBadge status = site_status(site);
  const double cap = number(site, "power_cap_kw");
  const std::string draw = power(number(site, "facility_kw")) + (cap > 0 ? " / " + power(cap) : "");
  const json& served = member(site, "since_start");
  char line[320];
  std::snprintf(line, sizeof line, "%-22s %s%-9s%s %5.0f %-19s %5.2f %8.1f %8.0f %7.0f %10s %10s %9s",
                fit(text(site, "name"), 22).c_str(), color ? status.color : "", status.label.c_str(),
                color ? "\033[0m" : "", number(site, "outstanding_requests"), fit(draw, 19).c_str(),
                number(site, "pue"), number(site, "price_usd_per_mwh"), number(site, "carbon_g_per_kwh"),
                number(served, "requests"), figure(number(served, "facility_wh")).c_str(),
                figure(number(served, "usd")).c_str(), figure(number(served, "g_co2e")).c_str());
  return line;
}

std::string header(const json& grid) {
  const json& clock = member(grid, "clock");
  const json& policy = member(grid, "policy");
  const json& comparison = member(grid, "comparison");
  std::string line = "tokengrid " + text(grid, "replica") + "  grid time " + text(clock, "signal_utc");
  if (number(clock, "speed") != 1) line += format(" (x%g)", number(clock, "speed"));
  line += "  policy " + text(policy, "name");
  const json& actual = member(comparison, "actual");
  const json& baseline = member(comparison, "baseline");
  if (number(comparison, "requests") > 0)
    line += "  vs " + text(comparison, "baseline_policy") + ": cost " + change(number(actual, "usd"), number(baseline, "usd")) +
            ", carbon " + change(number(actual, "g_co2e"), number(baseline, "g_co2e"));
  return line;
}

// Keeps each line to the terminal's width; colour codes are not counted.
std::string clip(const std::string& line, int width) {
  std::string out;
  int visible = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\033') {
      const size_t end = line.find('m', i);
      if (end == std::string::npos) break;
      out.append(line, i, end - i + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++visible;  // count UTF-8 characters once
  }
  return out;
}

}  // namespace

std::string render_grid_top(const json& grid, int width, bool color) {
  std::string out = clip(header(grid), width) + "\n\n";
  char columns[200];
  std::snprintf(columns, sizeof columns, "%-22s %-9s %5s %-19s %5s %8s %8s %7s %10s %10s %9s", "SITE", "STATUS", "LOAD",
                "DRAW / CAP", "PUE", "USD/MWh", "g/kWh", "REQ", "Wh", "USD", "gCO2e");
  out += clip(columns, width) + "\n";
  const json& sites = member(grid, "sites");
  if (sites.is_array())
    for (const json& site : sites) out += clip(site_line(site, color), width) + "\n";
  const json& decisions = member(grid, "decisions");
  if (decisions.is_array() && !decisions.empty()) {
    const json& last = decisions.front();
    out += "\n" + clip("last request: " + text(last, "site") + ": " + text(last, "reason"), width) + "\n";
  }
  return out;
}

namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop = true; }

int terminal_width() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 120;
}

// One /v1/grid, or why not.
std::string fetch(http::HttpClient& client, json& grid) {
  auto response = client.request("GET", "/v1/grid", {}, "");
  if (!response) return response.status().message();
  if (response->status != 200) return "/v1/grid answered " + std::to_string(response->status);
  grid = json::parse(response->body, nullptr, false);
  if (grid.is_discarded()) return "/v1/grid answered something that is not JSON";
  return "";
}

}  // namespace

int run_grid_top(const GridTopOptions& o) {
  auto url = http::parse_url(o.url);
  if (!url) {
    std::fprintf(stderr, "tokengrid status: %s\n", url.status().message().c_str());
    return 1;
  }
  http::HttpClient client(url->host, url->port, std::chrono::seconds(5));
  const bool live = !o.once && isatty(STDOUT_FILENO);
  json grid;
  if (!live) {
    const std::string error = fetch(client, grid);
    if (!error.empty()) {
      std::fprintf(stderr, "tokengrid status: %s: %s; is the gateway running there?\n", o.url.c_str(), error.c_str());
      return 1;
    }
    std::fputs(render_grid_top(grid, 1000, false).c_str(), stdout);
    return 0;
  }
  signal(SIGINT, on_stop_signal);
  signal(SIGTERM, on_stop_signal);
  std::fputs("\033[?25l\033[2J", stdout);  // hide the cursor, clear the screen
  while (!g_stop) {
    const std::string error = fetch(client, grid);
    std::string screen = error.empty() ? render_grid_top(grid, terminal_width(), o.color)
                                       : "tokengrid status: " + o.url + ": " + error + " (retrying)\n";
    std::string frame = "\033[H";
    for (size_t at = 0, end; at < screen.size(); at = end + 1) {
      end = screen.find('\n', at);
      if (end == std::string::npos) end = screen.size();
      frame.append(screen, at, end - at).append("\033[K\n");
    }
    frame += "\033[J";
    std::fputs(frame.c_str(), stdout);
    std::fflush(stdout);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.interval_s * 1000));
    while (!g_stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fputs("\033[?25h", stdout);  // the cursor back
  std::fflush(stdout);
  return 0;
}

}  // namespace tokengrid::gateway
