#include "gateway/live_signals.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "grid/synthetic_signals.h"

namespace tokengrid::gateway {
namespace {

using nlohmann::json;

std::vector<std::string> zones_of(std::span<const grid::Site> sites) {
  std::set<std::string> unique;
  for (const auto& s : sites) unique.insert(s.zone);
  return {unique.begin(), unique.end()};
}

Result<grid::ZoneSeries> synthetic_series(const SyntheticSource& source, const std::string& zone) {
  for (const grid::ZoneProfile& profile : grid::default_zone_profiles()) {
    if (profile.zone != zone) continue;
    grid::ZoneSeries series = grid::synthetic_zone_series(profile, source.start_unix_s, source.days * 24, source.seed);
    if (source.heat_wave_zone == zone) grid::apply_heat_wave(series, source.heat_wave, profile.utc_offset_h);
    return series;
  }
  std::string known;
  for (const auto& p : grid::default_zone_profiles()) known += (known.empty() ? "" : ", ") + p.zone;
  return not_found("zone '" + zone + "' has no synthetic profile (known: " + known +
                   "); give it a csv or a feed under signals.zones");
}

Result<double> finite_number(const json& object, const char* field, bool required, double fallback) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (required) return invalid_argument(std::string("'") + field + "' is missing");
    return fallback;
  }
  if (!it->is_number()) return invalid_argument(std::string("'") + field + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || std::fabs(v) > 1e9) return invalid_argument(std::string("'") + field + "' is out of range");
  return v;
}

Result<grid::SignalSample> parse_sample(const json& object) {
  if (!object.is_object()) return invalid_argument("a zone's value must be an object");
  grid::SignalSample s;
  TG_ASSIGN_OR_RETURN(s.price_usd_per_mwh, finite_number(object, "price_usd_per_mwh", true, 0));
  TG_ASSIGN_OR_RETURN(s.carbon_g_per_kwh, finite_number(object, "carbon_g_per_kwh", true, 0));
  if (s.carbon_g_per_kwh < 0) return invalid_argument("'carbon_g_per_kwh' must not be negative");
  TG_ASSIGN_OR_RETURN(s.temp_c, finite_number(object, "temp_c", false, 15));
  auto curtailed = object.find("curtailed");
  if (curtailed != object.end() && !curtailed->is_null()) {
    if (!curtailed->is_boolean()) return invalid_argument("'curtailed' must be true or false");
    s.curtailed = curtailed->get<bool>();
  }
  return s;
}

}  // namespace

Result<std::map<std::string, grid::SignalSample>> parse_signal_feed(std::string_view body,
                                                                    std::span<const std::string> zones) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return invalid_argument("the feed's answer is not a JSON object");
  std::map<std::string, grid::SignalSample> out;
  if (!doc.contains("zones")) {
    if (zones.size() != 1) return invalid_argument("the feed serves several zones but has no \"zones\" object");
    TG_ASSIGN_OR_RETURN(grid::SignalSample s, parse_sample(doc));
    out[zones[0]] = s;
    return out;
  }
  const json& all = doc["zones"];
  if (!all.is_object()) return invalid_argument("\"zones\" must be an object of zone name to values");
  for (const std::string& zone : zones) {
    auto it = all.find(zone);
    if (it == all.end()) continue;
    auto s = parse_sample(*it);
    if (!s) return invalid_argument("zone " + zone + ": " + s.status().message());
    out[zone] = *s;
  }
  if (out.empty()) return invalid_argument("the feed's answer holds none of the zones it should serve");
  return out;
}

Result<std::unique_ptr<LiveSignals>> LiveSignals::load(const SignalsConfig& config, std::span<const grid::Site> sites) {
  auto live = std::unique_ptr<LiveSignals>(new LiveSignals());
  live->zones_ = zones_of(sites);
  grid::Signals directory;
  if (!config.dir.empty()) TG_RETURN_IF_ERROR(directory.load_directory(config.dir));
  std::map<std::string, FeedPoll> feeds;
  for (const std::string& zone : live->zones_) {
    auto own = config.zones.find(zone);
    if (own != config.zones.end() && own->second.feed) {
      FeedPoll& poll = feeds[own->second.feed->url];
      poll.source = *own->second.feed;
      poll.zones.push_back(zone);
    }
    if (own != config.zones.end() && !own->second.csv.empty()) {
      TG_RETURN_IF_ERROR(live->base_.load_csv(own->second.csv, zone));
    } else if (directory.zone_index(zone) >= 0) {
      TG_RETURN_IF_ERROR(live->base_.add(directory.zones()[directory.zone_index(zone)]));
    } else if (config.synthetic) {
      TG_ASSIGN_OR_RETURN(grid::ZoneSeries series, synthetic_series(*config.synthetic, zone));
      TG_RETURN_IF_ERROR(live->base_.add(std::move(series)));
    } else if (own == config.zones.end()) {
      return not_found("zone '" + zone + "' has no signals: " +
                       (config.dir.empty() ? std::string("add it under signals.zones")
                                           : "no " + zone + "_*.csv in " + config.dir));
    }
  }
  for (auto& [url, poll] : feeds) live->feeds_.push_back(std::move(poll));
  return live;
}

grid::SignalSample LiveSignals::at(std::string_view zone, double unix_s) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(zone);
    if (it != live_.end()) return it->second;
  }
  const int index = base_.zone_index(zone);
  if (index < 0) return {};
  return base_.at(index, unix_s);
}

Status LiveSignals::apply_feed(const FeedPoll& feed, std::string_view body) {
  auto samples = parse_signal_feed(body, feed.zones);
  if (!samples) return invalid_argument(feed.source.url + ": " + samples.status().message());
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [zone, sample] : *samples) live_[zone] = sample;
  return Status::ok();
}

std::vector<std::string> LiveSignals::missing_zones() const {
  std::vector<std::string> missing;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& zone : zones_) {
    if (base_.zone_index(zone) < 0 && live_.find(zone) == live_.end()) missing.push_back(zone);
  }
  return missing;
}

}  // namespace tokengrid::gateway
