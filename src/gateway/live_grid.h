// LiveGrid: the gateway's picture of every site now, and the admission of requests to them.
//
// Per site it keeps the gateway's own accounting (requests and tokens outstanding, prompt tokens
// still waiting for their first token), which alone counts as the site's load, what the workers
// report when polled (sequences running and queued, shown in the status), the speed it observes
// (prefill and per-stream decode tokens/s, exponentially smoothed), each endpoint's health, and
// whether the zone asks loads to shed.
//
// states() builds the grid::SiteState of every site for one request: the figures above, the
// signals at the given time, PUE at the zone's temperature, the contract price and the energy
// model's joules per token, and the estimated facility draw now (a policy ranks sites at their
// cap after those with headroom, as in the simulator).
//
// admit() walks the policy's ranking and takes the first site that may take the request now:
// healthy, not draining, serving the model, under its power cap with the request added, and
// below its concurrency; when every such site is at its concurrency, the first one under its
// cap queues it. A site at its cap or draining never gets new work. Whether a capped site has
// room is the PowerHeadroom's answer (power_headroom.h): this process's own count by default,
// or, with RedisHeadroom, the count of every gateway replica.
// Thread-safe.
//
// Sites come and go through the control plane (control_plane.h): join() adds a site or brings
// one back with the endpoints it registered, leave() takes it out of routing. A site's index
// never changes and an endpoint's index within its site never changes either (one no longer
// registered is kept, unlisted), so an admitted request's indices stay valid; references to a
// site's description stay valid as sites join (the sites live in a deque).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "gateway/endpoint_health.h"
#include "gateway/live_signals.h"
#include "gateway/power_headroom.h"
#include "gateway/prefix_index.h"
#include "gateway/site_energy.h"
#include "grid/grid_config.h"
#include "grid/policy.h"
#include "http/http_client.h"

namespace tokengrid::gateway {

// What the gateway knows of a request before sending it.
struct RequestEstimate {
  std::string model;
  std::string region;
  double prompt_tokens = 0;      // estimated from the prompt's length
  double max_output_tokens = 0;  // what the client allows
  std::vector<uint64_t> prefix_hashes;
  double deferrable_window_s = 0;  // a batch request's time left in its window; 0: interactive
};

struct Admission {
  int site = -1;      // -1: refused, see reason
  int endpoint = -1;
  std::string reason;  // why this site, or why none
  bool holds_headroom = false;  // it reserved room under the site's power cap
};

// How a request ended at its site.
struct Completion {
  double prompt_tokens = 0;
  double completion_tokens = 0;
  double cached_tokens = 0;
  double ttft_s = 0;     // at the gateway
  double decode_s = 0;   // first token to last
  double signal_unix_s = 0;
};

// Polled from a tokengrid worker's stats route.
struct WorkerReport {
  int running = 0;
  int queued = 0;
  double kv_used_fraction = 0;
  double measured_watts = 0;  // package power (RAPL); 0: not measured
};

struct EndpointStatus {
  std::string url;
  bool healthy = true;  // checks pass and not ejected
  std::string reason;   // "answering", or why not
  int ejections = 0;
  int outstanding = 0;
  WorkerReport report;
};

// One site as /v1/grid and the metrics show it.
struct SiteStatus {
  std::string name, cloud, region, zone;
  bool healthy = true;
  bool draining = false;
  bool joined = false;  // registered through the control plane now
  bool left = false;    // its registration vanished: takes no requests
  std::string health_reason;
  double outstanding_requests = 0;
  double outstanding_tokens = 0;
  double it_watts = 0;
  double facility_kw = 0;
  double power_cap_kw = 0;
  double pue = 1;
  grid::SignalSample signal;
  double price_usd_per_mwh = 0;  // effective, under the contract
  Observed observed;
  std::vector<EndpointStatus> endpoints;
};

class LiveGrid {
 public:
  // Fails when a site's energy model cannot be built. `headroom` (outliving the grid) decides
  // whether capped sites have room; none: this process's own count.
  static Result<std::unique_ptr<LiveGrid>> create(const grid::GridConfig& grid, const LiveSignals& signals,
                                                  HealthOptions health = {}, PowerHeadroom* headroom = nullptr);

  size_t size() const;
  // The description: name, cloud, region and zone never change; endpoints only under the lock
  // (read one with endpoint()).
  const grid::Site& site(int i) const { return sites_[i].site; }
  int find(const std::string& name) const;
  // Requests the site runs at once at full power (site_energy.h).
  double concurrency(int i) const;
  // Every model some listed endpoint of a site in the grid serves.
  std::vector<std::string> served_models() const;
  // Whether some listed endpoint serves `model` (served_models() without its copy).
  bool serves(const std::string& model) const;

  // Adds `site` (joined through the control plane), or, for a site of that name, takes its
  // endpoints and brings it back if it had left; its index, new or kept. Fails when its energy
  // model or an endpoint's URL is wrong.
  Result<int> join(const grid::Site& site);
  // Takes the site out of routing (requests in flight finish) until it joins again.
  void leave(const std::string& name, const std::string& why);
  // What other replicas report as outstanding at a site (the control plane's load/ keys);
  // counted with this replica's own in every state, cap and admission.
  void set_remote_load(const std::string& site, const std::string& replica, double requests, double tokens);
  void clear_remote_load(const std::string& site, const std::string& replica);
  // This replica's own outstanding requests and tokens per site, by name (what it publishes).
  std::vector<std::tuple<std::string, double, double>> own_load() const;

  std::vector<grid::SiteState> states(const RequestEstimate& request, double now) const;
  // Sites in `tried` (a request's earlier attempts) are passed over.
  Admission admit(const grid::Decision& decision, std::span<const grid::SiteState> states,
                  const RequestEstimate& request, std::span<const int> tried = {});
  void first_token(const Admission& admission, const RequestEstimate& request);
  // Ends an admitted request: releases it, learns the site's speed, and meters it.
  RequestFootprint finish(const Admission& admission, const RequestEstimate& request, const Completion& done);
  // Ends an admitted request that failed at the site (nothing to meter).
  void abandon(const Admission& admission, const RequestEstimate& request, bool reached_first_token);

  void report_poll(int site, int endpoint, const Result<WorkerReport>& report);
  // How a request's attempt at the admitted endpoint ended (passive outlier ejection).
  void request_ended(const Admission& admission, RequestOutcome outcome, const std::string& why);
  std::vector<SiteStatus> status(double now) const;
  grid::SiteEndpoint endpoint(int site, int endpoint) const;
  size_t endpoint_count(int site) const;
  // Where to connect for an endpoint, and the path prefix of its API ("" or "/prefix").
  http::Url endpoint_url(int site, int endpoint) const;

 private:
  struct Endpoint {
    EndpointHealth health;
    int outstanding = 0;
    WorkerReport report;
    bool listed = true;  // false: no longer registered by its site
  };
  struct RemoteLoad {
    double requests = 0;
    double tokens = 0;
  };
  struct LiveSite {
    LiveSite(grid::Site s, SiteEnergy e, std::vector<http::Url> u)
        : site(std::move(s)), hardware(hardware_class(site)), energy(std::move(e)), urls(std::move(u)) {}
    grid::Site site;
    std::string hardware;  // its hardware class (site_energy.h)
    SiteEnergy energy;
    std::vector<http::Url> urls;
    std::vector<Endpoint> endpoints;
    bool joined = false;
    bool left = false;
    std::string left_reason;
    std::map<std::string, RemoteLoad> remote;  // by replica
    double outstanding = 0;
    double outstanding_tokens = 0;
    double waiting_prefill_tokens = 0;
    Observed observed;
  };

  LiveGrid(const grid::GridConfig& grid, std::vector<SiteEnergy> energy, std::vector<std::vector<http::Url>> urls,
           const LiveSignals& signals, HealthOptions health, PowerHeadroom* headroom);
  grid::SiteState state_of(size_t index, const RequestEstimate& request, double now) const;
  bool healthy(const LiveSite& s, double now_s) const;
  double load(const LiveSite& s) const;
  double tokens(const LiveSite& s) const;
  void take_endpoints(LiveSite& s, const grid::Site& registered);
  void refresh_models();
  // The site's smoothed speeds, or, before it was seen, the mean of the sites that were.
  Observed speed_of(const LiveSite& s) const;
  // The speeds its energy per token comes from: those pooled over its hardware class, or,
  // before any site of the class finished a request, speed_of(s).
  Observed energy_speed_of(const LiveSite& s) const;
  // The most requests the site's cap allows at once at this PUE (1e15: the cap never binds).
  double max_requests_under_cap(const LiveSite& s, double pue) const;
  // Admits at site i when its cap has room, taken under the lock at admission so that
  // concurrent requests cannot pass the cap together; counts why not in `no_room`.
  bool take_room(int i, double pue, Admission& a, int& no_room, bool& store_down);
  // Ends an admitted request's hold on its site; under the lock.
  void release_locked(const Admission& a, const RequestEstimate& request);
  int pick_endpoint(const LiveSite& s, const std::string& model) const;
  std::string refusal(std::span<const grid::SiteState> states, const grid::Decision& decision, int no_room,
                      bool store_down) const;

  const LiveSignals& signals_;
  std::vector<grid::PlacementRule> placement_;
  mutable std::mutex mutex_;
  HealthOptions health_;
  std::deque<LiveSite> sites_;
  std::vector<std::string> models_;  // served_models()
  PrefixIndex prefixes_;
  std::map<std::string, Observed> class_speeds_;  // by hardware class
  LocalHeadroom local_headroom_;
  PowerHeadroom* headroom_;
};

}  // namespace tokengrid::gateway
