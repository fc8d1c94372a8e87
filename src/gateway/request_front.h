// RequestFront: everything a generation request goes through before it is sent to a site:
// the key, the OpenAI validation of its body, the model, the estimate of its size, the key's
// limits, the policy's ranking of the sites and the admission to one of them.
//
// Guarantees: every refusal is OpenAI's error object with the right status: 401 (no or unknown
// key), 400 (a body the OpenAI API would refuse; the offending field in `param`), 404 (a model
// no site serves), 429 with Retry-After naming the limit passed, 503 with Retry-After when no
// site can take the request (all unhealthy, capped or draining; the reason says which). A
// request that passes holds a reservation against its key's limits and a place at its site,
// which the relay settles or releases.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gateway/active_policy.h"
#include "gateway/relay.h"

namespace tokengrid::gateway {

// A request admitted on behalf of a key rather than presenting one: a batch's.
struct OnBehalf {
  std::span<const int> passed_over;  // sites without room for it now
  double deferrable_window_s = 0;    // its time left to run (the policy ranks for it)
  std::string batch_id;
};

struct FrontOptions {
  std::string default_region;
};

class RequestFront {
 public:
  RequestFront(const RelayContext& context, const KeyStore& keys, FrontOptions options)
      : ctx_(context), keys_(keys), options_(std::move(options)) {}

  // Checks, limits and admits the request; an error response otherwise.
  Result<RelayRequest, http::HttpResponse> admit(const http::HttpRequest& request, const std::string& route);
  // The same for a request made on behalf of `key` (a batch's owner); its headers name no key.
  Result<RelayRequest, http::HttpResponse> admit_as(const KeyEntry& key, const http::HttpRequest& request,
                                                    const std::string& route, const OnBehalf& on_behalf);

 private:
  Result<RelayRequest, http::HttpResponse> parse(const KeyEntry& key, const http::HttpRequest& request,
                                                 const std::string& route) const;
  Result<Reservation, http::HttpResponse> reserve(RelayRequest& r, const std::vector<grid::SiteState>& states,
                                                  const grid::RequestInfo& info, double now);

  const RelayContext& ctx_;
  const KeyStore& keys_;
  const FrontOptions options_;
  std::atomic<uint64_t> sequence_{0};
};

// OpenAI's error object as a response, with a Retry-After when retry_after_s > 0.
http::HttpResponse api_error_response(int status, std::string message, std::string type, std::string code = "",
                                      std::string param = "", int retry_after_s = 0);

}  // namespace tokengrid::gateway
