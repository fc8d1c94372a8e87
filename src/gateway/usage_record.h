// UsageRecord: what the gateway writes to the usage ledger for one finished request.
//
// One record per response id. Energy, cost and carbon are the meter's figures for every site
// that worked on the request (a request continued on a second site after a failure sums both,
// and `sites_used` lists them in order). Keys appear by name only, never by secret.
#pragma once

#include <cstdint>
#include <string>

namespace tokengrid::gateway {

struct UsageRecord {
  std::string request_id;        // the response id ("chatcmpl-..."); unique in a ledger
  double finished_unix_s = 0;    // real time the response ended
  double signal_unix_s = 0;      // the grid clock's time (a replay clock in demos)
  std::string key;               // the API key's name
  std::string route;             // "/v1/chat/completions", ...
  std::string model;
  std::string site;              // the site that finished the request
  std::string zone;              // its grid zone
  std::string region;            // the caller's region
  int status = 0;                // HTTP status sent to the client
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;     // prompt tokens served from a prefix cache
  double it_wh = 0;              // energy at the accelerators
  double facility_wh = 0;        // it_wh x PUE
  double pue = 0;
  double price_usd_per_mwh = 0;  // the signal the cost was computed with
  double carbon_g_per_kwh = 0;
  double usd = 0;
  double g_co2e = 0;
  double ttft_ms = 0;            // time to first token; 0 when none was sent
  double duration_ms = 0;
  std::string batch_id;          // empty for interactive requests
  std::string replica;           // the gateway replica that served it
  std::string sites_used;        // "a" or "a,b" after a failover

  bool operator==(const UsageRecord&) const = default;
};

}  // namespace tokengrid::gateway
