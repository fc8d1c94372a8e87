// SiteAgent: joins any OpenAI-compatible server (vLLM, llama.cpp's server, tokengrid serve) to
// the grid as a site, for as long as it answers (`tokengrid site-agent`, or a sidecar).
//
// Every check_interval it asks GET <endpoint>/models. While the server answers, the site is
// registered (SiteRegistrar: under a renewed lease); after `unhealthy_threshold` failures in a
// row the registration is revoked, so gateways stop routing to it at once, and it registers
// again when the server answers. Models not given are those the server lists.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/site_registration.h"
#include "core/status.h"

namespace tokengrid::controlplane {

struct SiteAgentOptions {
  JoinOptions join;
  std::string endpoint;             // the server's OpenAI base URL, http://HOST:PORT/v1
  std::vector<std::string> models;  // empty: what GET /models lists
  std::string api = "openai";       // "tokengrid" for a tokengrid worker (its /v1/stats is polled)
  int max_concurrency = 16;
  std::chrono::milliseconds check_interval{std::chrono::seconds(1)};
  int unhealthy_threshold = 3;
};

// The ids a GET /models answer lists ({"data": [{"id": ...}]}); hostile bodies are errors.
Result<std::vector<std::string>> parse_model_list(std::string_view body);

class SiteAgent {
 public:
  // Checks the options, then watches the server in the background.
  static Result<std::unique_ptr<SiteAgent>> start(SiteAgentOptions options);
  ~SiteAgent();  // stop()s
  // Stops watching and revokes the registration.
  void stop();
  bool registered() const;

 private:
  explicit SiteAgent(SiteAgentOptions options) : options_(std::move(options)) {}
  Result<std::vector<std::string>> check() const;
  void loop();

  const SiteAgentOptions options_;
  std::string host_;
  uint16_t port_ = 0;
  std::string models_path_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<SiteRegistrar> registrar_;
  std::thread thread_;
};

}  // namespace tokengrid::controlplane
