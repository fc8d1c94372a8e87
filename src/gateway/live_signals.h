// LiveSignals: every zone's price, carbon, temperature and curtailment at a given time, from
// the sources the grid file names: CSV files, the synthetic generator, or an HTTP JSON feed.
//
// A zone's source is its own entry under signals.zones, else the directory, else the generator.
// A feed gives the zone's values now: once an answer arrived it replaces the base series, and
// it holds until the next good answer (a failed poll keeps the last values). A zone fed only by
// a feed has no values until its first answer: the gateway polls every feed once before it
// serves, and refuses to start when such a zone stays empty (missing_zones()). Thread-safe.
//
// Feed format (GET, JSON): {"zones": {"DE-LU": {"price_usd_per_mwh": 81.5,
// "carbon_g_per_kwh": 342, "temp_c": 14.2, "curtailed": false}, ...}}; a feed of one zone
// may also answer the inner object alone. Fields other than price and carbon are optional.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gateway/gateway_config.h"
#include "grid/signals.h"
#include "grid/site.h"

namespace tokengrid::gateway {

// A feed that some zones read from, and when it was last answered.
struct FeedPoll {
  FeedSource source;
  std::vector<std::string> zones;
};

class LiveSignals {
 public:
  // Loads every zone the sites name. Errors say which zone lacks data and why.
  static Result<std::unique_ptr<LiveSignals>> load(const SignalsConfig& config, std::span<const grid::Site> sites);

  grid::SignalSample at(std::string_view zone, double unix_s) const;
  // The feeds to poll; apply_feed() takes one's answer.
  const std::vector<FeedPoll>& feeds() const { return feeds_; }
  Status apply_feed(const FeedPoll& feed, std::string_view body);
  const std::vector<std::string>& zones() const { return zones_; }
  // Zones with neither a series nor a feed answer yet.
  std::vector<std::string> missing_zones() const;

 private:
  grid::Signals base_;
  std::vector<FeedPoll> feeds_;
  mutable std::mutex mutex_;
  std::map<std::string, grid::SignalSample, std::less<>> live_;  // from feeds
  std::vector<std::string> zones_;
};

// Parses a feed's answer into the samples of `zones` it holds (hostile input gives an error).
Result<std::map<std::string, grid::SignalSample>> parse_signal_feed(std::string_view body,
                                                                    std::span<const std::string> zones);

}  // namespace tokengrid::gateway
