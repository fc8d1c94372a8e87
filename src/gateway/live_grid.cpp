#include "gateway/live_grid.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace tokengrid::gateway {
namespace {

// Speeds assumed until the gateway has seen a site answer (a small model on CPU cores).
constexpr double kInitialPrefillTokensPerS = 200;
constexpr double kInitialStreamDecodeTokensPerS = 20;
// What max_requests_under_cap says of a cap that never binds.
constexpr double kUnboundedRequests = 1e15;
// Weight of the newest observation in the smoothed speeds.
constexpr double kSmoothing = 0.2;
double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double smooth(double old_value, double sample) {
  return old_value <= 0 ? sample : (1 - kSmoothing) * old_value + kSmoothing * sample;
}


Result<http::Url> endpoint_base_url(const grid::Site& site, const grid::SiteEndpoint& endpoint) {
  auto url = http::parse_url(endpoint.url);
  if (!url) return invalid_argument("site '" + site.name + "': " + url.status().message());
  // Clients write base URLs ending in /v1; the gateway adds the /v1 routes itself.
  if (url->path.ends_with("/v1")) url->path.resize(url->path.size() - 3);
  return *url;
}

}  // namespace

Result<std::unique_ptr<LiveGrid>> LiveGrid::create(const grid::GridConfig& grid, const LiveSignals& signals,
                                                   HealthOptions health, PowerHeadroom* headroom) {
  std::vector<SiteEnergy> energy;
  std::vector<std::vector<http::Url>> urls;
  for (const grid::Site& site : grid.sites) {
    TG_ASSIGN_OR_RETURN(SiteEnergy e, SiteEnergy::create(site));
    energy.push_back(std::move(e));
    urls.emplace_back();
    for (const grid::SiteEndpoint& endpoint : site.endpoints) {
      TG_ASSIGN_OR_RETURN(http::Url url, endpoint_base_url(site, endpoint));
      urls.back().push_back(url);
    }
  }
  return std::unique_ptr<LiveGrid>(new LiveGrid(grid, std::move(energy), std::move(urls), signals, health, headroom));
}

LiveGrid::LiveGrid(const grid::GridConfig& grid, std::vector<SiteEnergy> energy,
                   std::vector<std::vector<http::Url>> urls, const LiveSignals& signals, HealthOptions health,
                   PowerHeadroom* headroom)
    : signals_(signals),
      placement_(grid.placement),
      health_(health),
      prefixes_(grid.sites.size()),
      headroom_(headroom != nullptr ? headroom : &local_headroom_) {
  for (size_t i = 0; i < grid.sites.size(); ++i) {
    LiveSite s(grid.sites[i], std::move(energy[i]), std::move(urls[i]));
    s.endpoints.assign(s.site.endpoints.size(), Endpoint{EndpointHealth(health), 0, {}, true});
    sites_.push_back(std::move(s));
  }
  refresh_models();
}

bool LiveGrid::healthy(const LiveSite& s, double now_s) const {
  if (s.left) return false;
  for (const Endpoint& e : s.endpoints)
    if (e.listed && e.health.available(now_s)) return true;
  return false;
}

size_t LiveGrid::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sites_.size();
}

int LiveGrid::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < sites_.size(); ++i)
    if (sites_[i].site.name == name) return static_cast<int>(i);
  return -1;
}

double LiveGrid::concurrency(int i) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sites_[i].energy.concurrency();
}

std::vector<std::string> LiveGrid::served_models() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return models_;
}

bool LiveGrid::serves(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::binary_search(models_.begin(), models_.end(), model);
}

void LiveGrid::refresh_models() {
  std::set<std::string> names;
  for (const LiveSite& s : sites_)
    for (size_t e = 0; e < s.endpoints.size(); ++e)
      if (s.endpoints[e].listed) names.insert(s.site.endpoints[e].models.begin(), s.site.endpoints[e].models.end());
  models_.assign(names.begin(), names.end());
}

grid::SiteEndpoint LiveGrid::endpoint(int site, int endpoint) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sites_[site].site.endpoints[endpoint];
}

size_t LiveGrid::endpoint_count(int site) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sites_[site].endpoints.size();
}

http::Url LiveGrid::endpoint_url(int site, int endpoint) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return sites_[site].urls[endpoint];
}

// Endpoints are matched by URL: one registered again keeps its index and health; one no longer
// registered stays, unlisted.
void LiveGrid::take_endpoints(LiveSite& s, const grid::Site& registered) {
  for (Endpoint& e : s.endpoints) e.listed = false;
  for (const grid::SiteEndpoint& endpoint : registered.endpoints) {
    auto url = endpoint_base_url(registered, endpoint);
    size_t e = 0;
    while (e < s.site.endpoints.size() && s.site.endpoints[e].url != endpoint.url) ++e;
    if (e == s.site.endpoints.size()) {
      s.site.endpoints.push_back(endpoint);
      s.urls.push_back(*url);
      s.endpoints.push_back(Endpoint{EndpointHealth(health_), 0, {}, true});
    }
    s.site.endpoints[e] = endpoint;
    s.endpoints[e].listed = true;
  }
}

Result<int> LiveGrid::join(const grid::Site& site) {
  for (const grid::SiteEndpoint& endpoint : site.endpoints) TG_RETURN_IF_ERROR(endpoint_base_url(site, endpoint).status());
  std::lock_guard<std::mutex> lock(mutex_);
  size_t i = 0;
  while (i < sites_.size() && sites_[i].site.name != site.name) ++i;
  if (i == sites_.size()) {
    grid::Site empty = site;
    empty.endpoints.clear();
    TG_ASSIGN_OR_RETURN(SiteEnergy energy, SiteEnergy::create(site));
    sites_.emplace_back(std::move(empty), std::move(energy), std::vector<http::Url>{});
    prefixes_.add_site();
  }
  LiveSite& s = sites_[i];
  take_endpoints(s, site);
  grid::Site listed = s.site;
  listed.endpoints = site.endpoints;
  TG_ASSIGN_OR_RETURN(s.energy, SiteEnergy::create(listed));
  s.joined = true;
  s.left = false;
  s.left_reason.clear();
  refresh_models();
  return static_cast<int>(i);
}

void LiveGrid::leave(const std::string& name, const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (LiveSite& s : sites_) {
    if (s.site.name != name) continue;
    s.joined = false;
    s.left = true;
    s.left_reason = why;
  }
}

void LiveGrid::set_remote_load(const std::string& site, const std::string& replica, double requests, double tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (LiveSite& s : sites_)
    if (s.site.name == site) s.remote[replica] = RemoteLoad{std::max(0.0, requests), std::max(0.0, tokens)};
}

void LiveGrid::clear_remote_load(const std::string& site, const std::string& replica) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (LiveSite& s : sites_)
    if (s.site.name == site) s.remote.erase(replica);
}

std::vector<std::tuple<std::string, double, double>> LiveGrid::own_load() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::tuple<std::string, double, double>> out;
  for (const LiveSite& s : sites_) out.emplace_back(s.site.name, s.outstanding, s.outstanding_tokens);
  return out;
}

Observed LiveGrid::speed_of(const LiveSite& s) const {
  if (s.observed.prefill_tokens_per_s > 0 && s.observed.stream_decode_tokens_per_s > 0) return s.observed;
  // Not seen yet: assume what the grid's other sites show, so that a site is not ranked by a
  // guess against measurements (a pessimistic guess would keep it from ever being measured).
  Observed mean;
  int seen = 0;
  for (const LiveSite& other : sites_) {
    if (other.observed.prefill_tokens_per_s <= 0 || other.observed.stream_decode_tokens_per_s <= 0) continue;
    mean.prefill_tokens_per_s += other.observed.prefill_tokens_per_s;
    mean.stream_decode_tokens_per_s += other.observed.stream_decode_tokens_per_s;
    ++seen;
  }
  if (seen == 0) return {kInitialPrefillTokensPerS, kInitialStreamDecodeTokensPerS, 0};
  mean.prefill_tokens_per_s /= seen;
  mean.stream_decode_tokens_per_s /= seen;
  return mean;
}

Observed LiveGrid::energy_speed_of(const LiveSite& s) const {
  auto pooled = class_speeds_.find(s.hardware);
  if (pooled != class_speeds_.end() && pooled->second.prefill_tokens_per_s > 0 &&
      pooled->second.stream_decode_tokens_per_s > 0)
    return pooled->second;
  return speed_of(s);
}

// The gateway's own count: a worker's report lags the requests that just ended or began, and
// an estimate that jumps with it would let the draw pass a cap between two polls.
// Other replicas' load comes from what they publish (control_plane.h).
double LiveGrid::load(const LiveSite& s) const {
  double total = s.outstanding;
  for (const auto& [replica, remote] : s.remote) total += remote.requests;
  return total;
}

double LiveGrid::tokens(const LiveSite& s) const {
  double total = s.outstanding_tokens;
  for (const auto& [replica, remote] : s.remote) total += remote.tokens;
  return total;
}

grid::SiteState LiveGrid::state_of(size_t index, const RequestEstimate& request, double now) const {
  const LiveSite& s = sites_[index];
  const grid::SignalSample signal = signals_.at(s.site.zone, now);
  const double load_now = load(s);
  grid::SiteState st;
  st.name = s.site.name;
  st.healthy = healthy(s, monotonic_seconds());
  st.serves_model = s.site.endpoint_serves(request.model);
  st.placement_allowed = grid::placement_allowed(placement_, s.site, request.model, now);
  st.curtailed = signal.curtailed;
  st.outstanding_requests = load_now;
  st.outstanding_tokens = tokens(s);
  st.queued_prefill_tokens = s.waiting_prefill_tokens;
  const Observed speed = speed_of(s);
  st.prefill_tokens_per_s = speed.prefill_tokens_per_s;
  st.capacity_tokens_per_s = speed.stream_decode_tokens_per_s * s.energy.concurrency();
  st.min_tpot_s = 1.0 / std::max(1e-9, speed.stream_decode_tokens_per_s);
  st.pue = s.site.pue.at(signal.temp_c);
  st.power_cap_kw = s.site.power_cap_kw;
  st.power_draw_kw = st.pue * s.energy.it_watts(load_now) / 1000.0;
  st.price_usd_per_mwh = s.site.contract.price(signal.price_usd_per_mwh);
  st.carbon_g_per_kwh = signal.carbon_g_per_kwh;
  st.latency_ms = s.site.latency.empty() ? 0 : s.site.latency_ms(request.region);
  st.prefix_hit_tokens = prefixes_.hit_tokens(index, request.prefix_hashes);
  const EnergyRates rates = s.energy.rates(request.model, energy_speed_of(s));
  st.prefill_joules_per_token = rates.prefill_j_per_token;
  st.decode_joules_per_token = rates.decode_j_per_token;
  return st;
}

std::vector<grid::SiteState> LiveGrid::states(const RequestEstimate& request, double now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<grid::SiteState> out;
  out.reserve(sites_.size());
  for (size_t i = 0; i < sites_.size(); ++i) out.push_back(state_of(i, request, now));
  return out;
}

int LiveGrid::pick_endpoint(const LiveSite& s, const std::string& model) const {
  int best = -1;
  int best_load = 0;
  const double now_s = monotonic_seconds();
  for (size_t e = 0; e < s.endpoints.size(); ++e) {
    if (!s.endpoints[e].listed || !s.endpoints[e].health.available(now_s) || !s.site.endpoints[e].serves(model)) continue;
    const int endpoint_load = s.endpoints[e].outstanding + s.endpoints[e].report.queued;
    if (best < 0 || endpoint_load < best_load) {
      best = static_cast<int>(e);
      best_load = endpoint_load;
    }
  }
  return best;
}

double LiveGrid::max_requests_under_cap(const LiveSite& s, double pue) const {
  const auto fits = [&](double n) { return pue * s.energy.it_watts(n) / 1000.0 <= s.site.power_cap_kw; };
  // The draw grows with the requests up to the site's concurrency and no further.
  int64_t lo = -1, hi = static_cast<int64_t>(std::ceil(s.energy.concurrency()));
  if (fits(static_cast<double>(hi))) return kUnboundedRequests;
  while (hi - lo > 1) {  // fits(lo) (or lo = -1), !fits(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(static_cast<double>(mid)) ? lo : hi) = mid;
  }
  return static_cast<double>(std::max<int64_t>(lo, 0));
}

bool LiveGrid::take_room(int i, double pue, Admission& a, int& no_room, bool& store_down) {
  const LiveSite& s = sites_[i];
  if (s.site.power_cap_kw > 0) {
    const HeadroomAnswer answer = headroom_->reserve(s.site.name, load(s), max_requests_under_cap(s, pue));
    if (answer != HeadroomAnswer::kGranted) {
      no_room += answer == HeadroomAnswer::kNoRoom ? 1 : 0;
      store_down = store_down || answer == HeadroomAnswer::kStoreDown;
      return false;
    }
    a.holds_headroom = true;
  }
  a.site = i;
  return true;
}

std::string LiveGrid::refusal(std::span<const grid::SiteState> states, const grid::Decision& decision, int no_room,
                              bool store_down) const {
  if (decision.ranked_sites.empty()) return decision.reason;
  int capped = 0, draining = 0;
  for (int i : decision.ranked_sites) {
    capped += grid::at_power_cap(states[i]) ? 1 : 0;
    draining += states[i].curtailed ? 1 : 0;
  }
  std::string why = "no site can take the request now: " + std::to_string(std::max(capped, no_room)) +
                    " at their power cap, " + std::to_string(draining) + " draining on a demand-response signal";
  if (store_down) why += ", and the power headroom shared with other gateway replicas cannot be checked (its store is down)";
  return why;
}

Admission LiveGrid::admit(const grid::Decision& decision, std::span<const grid::SiteState> states,
                          const RequestEstimate& request, std::span<const int> tried) {
  std::lock_guard<std::mutex> lock(mutex_);
  Admission a;
  std::vector<int> full;  // at their concurrency: the first with room queues the request
  int no_room = 0;
  bool store_down = false;
  for (int i : decision.ranked_sites) {
    if (std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
    const grid::SiteState& st = states[i];
    if (!grid::eligible(st) || st.curtailed) continue;
    if (pick_endpoint(sites_[i], request.model) < 0) continue;
    if (load(sites_[i]) >= sites_[i].energy.concurrency()) {
      full.push_back(i);
      continue;
    }
    if (take_room(i, st.pue, a, no_room, store_down)) break;
  }
  for (size_t k = 0; a.site < 0 && k < full.size(); ++k) take_room(full[k], states[full[k]].pue, a, no_room, store_down);
  if (a.site < 0) {
    a.reason = refusal(states, decision, no_room, store_down);
    return a;
  }
  LiveSite& s = sites_[a.site];
  a.endpoint = pick_endpoint(s, request.model);
  a.reason = decision.reason;
  if (a.site != decision.ranked_sites.front() && tried.empty())
    a.reason += "; sent to " + s.site.name + " (" + sites_[decision.ranked_sites.front()].site.name +
                " full, capped or draining)";
  s.outstanding += 1;
  s.outstanding_tokens += request.prompt_tokens + request.max_output_tokens;
  s.waiting_prefill_tokens += request.prompt_tokens;
  s.endpoints[a.endpoint].outstanding += 1;
  return a;
}

void LiveGrid::first_token(const Admission& a, const RequestEstimate& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  LiveSite& s = sites_[a.site];
  s.waiting_prefill_tokens = std::max(0.0, s.waiting_prefill_tokens - request.prompt_tokens);
}

void LiveGrid::release_locked(const Admission& a, const RequestEstimate& request) {
  LiveSite& s = sites_[a.site];
  s.outstanding = std::max(0.0, s.outstanding - 1);
  s.outstanding_tokens = std::max(0.0, s.outstanding_tokens - request.prompt_tokens - request.max_output_tokens);
  s.endpoints[a.endpoint].outstanding = std::max(0, s.endpoints[a.endpoint].outstanding - 1);
  if (a.holds_headroom) headroom_->release(s.site.name, load(s));
}

void LiveGrid::abandon(const Admission& a, const RequestEstimate& request, bool reached_first_token) {
  std::lock_guard<std::mutex> lock(mutex_);
  LiveSite& s = sites_[a.site];
  if (!reached_first_token) s.waiting_prefill_tokens = std::max(0.0, s.waiting_prefill_tokens - request.prompt_tokens);
  release_locked(a, request);
}

RequestFootprint LiveGrid::finish(const Admission& a, const RequestEstimate& request, const Completion& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  LiveSite& s = sites_[a.site];
  const double uncached = std::max(0.0, done.prompt_tokens - done.cached_tokens);
  for (Observed* o : {&s.observed, &class_speeds_[s.hardware]}) {
    if (uncached > 0 && done.ttft_s > 0) o->prefill_tokens_per_s = smooth(o->prefill_tokens_per_s, uncached / done.ttft_s);
    if (done.completion_tokens > 1 && done.decode_s > 0)
      o->stream_decode_tokens_per_s = smooth(o->stream_decode_tokens_per_s, (done.completion_tokens - 1) / done.decode_s);
  }
  const EnergyRates rates = s.energy.rates(request.model, energy_speed_of(s));
  prefixes_.remember(a.site, request.prefix_hashes);
  release_locked(a, request);
  return meter_request(s.site, rates, signals_.at(s.site.zone, done.signal_unix_s), uncached, done.completion_tokens);
}

void LiveGrid::report_poll(int site, int endpoint, const Result<WorkerReport>& report) {
  std::lock_guard<std::mutex> lock(mutex_);
  Endpoint& e = sites_[site].endpoints[endpoint];
  if (report.is_ok()) {
    e.report = *report;
    e.health.check_passed(monotonic_seconds());
    return;
  }
  e.report = {};
  e.health.check_failed(report.status().message(), monotonic_seconds());
}

void LiveGrid::request_ended(const Admission& a, RequestOutcome outcome, const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  sites_[a.site].endpoints[a.endpoint].health.request_ended(outcome, why, monotonic_seconds());
}

std::vector<SiteStatus> LiveGrid::status(double now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<SiteStatus> out;
  for (const LiveSite& s : sites_) {
    SiteStatus v;
    v.name = s.site.name;
    v.cloud = s.site.cloud;
    v.region = s.site.region;
    v.zone = s.site.zone;
    const double now_s = monotonic_seconds();
    v.healthy = healthy(s, now_s);
    v.joined = s.joined;
    v.left = s.left;
    v.signal = signals_.at(s.site.zone, now);
    v.draining = v.signal.curtailed;
    v.outstanding_requests = load(s);
    v.outstanding_tokens = tokens(s);
    v.it_watts = s.energy.it_watts(v.outstanding_requests);
    v.pue = s.site.pue.at(v.signal.temp_c);
    v.facility_kw = v.pue * v.it_watts / 1000.0;
    v.power_cap_kw = s.site.power_cap_kw;
    v.price_usd_per_mwh = s.site.contract.price(v.signal.price_usd_per_mwh);
    v.observed = speed_of(s);
    v.observed.outstanding = v.outstanding_requests;
    for (size_t e = 0; e < s.endpoints.size(); ++e) {
      const Endpoint& ep = s.endpoints[e];
      if (!ep.listed) continue;
      const bool available = ep.health.available(now_s);
      v.endpoints.push_back({s.site.endpoints[e].url, available, ep.health.reason(now_s), ep.health.ejections(),
                             ep.outstanding, ep.report});
      if (!available && v.health_reason.empty()) v.health_reason = s.site.endpoints[e].url + ": " + ep.health.reason(now_s);
    }
    if (v.healthy) v.health_reason = "answering";
    if (s.left) v.health_reason = s.left_reason;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace tokengrid::gateway
