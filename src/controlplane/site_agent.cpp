#include "controlplane/site_agent.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "http/http_client.h"

namespace tokengrid::controlplane {

Result<std::vector<std::string>> parse_model_list(std::string_view body) {
  const nlohmann::json j = parse_json_bounded(body, 8);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
    return invalid_argument("the /models answer is not a list of models ({\"data\": [...]})");
  std::vector<std::string> ids;
  for (const nlohmann::json& m : j["data"])
    if (m.is_object() && m.contains("id") && m["id"].is_string() && !m["id"].get_ref<const std::string&>().empty())
      ids.push_back(m["id"].get<std::string>());
  if (ids.empty()) return invalid_argument("the /models answer lists no model");
  return ids;
}

Result<std::unique_ptr<SiteAgent>> SiteAgent::start(SiteAgentOptions options) {
  auto url = http::parse_url(options.endpoint);
  if (!url) return invalid_argument("--endpoint '" + options.endpoint + "': " + url.status().message());
  SiteRegistration probe;
  probe.name = options.join.site;
  probe.endpoints.push_back({options.endpoint, {}, options.api, options.max_concurrency});
  TG_RETURN_IF_ERROR(parse_site_registration(probe.to_json()).status());
  TG_RETURN_IF_ERROR(EtcdClient::create(options.join.etcd).status());
  std::unique_ptr<SiteAgent> agent(new SiteAgent(std::move(options)));
  agent->host_ = url->host;
  agent->port_ = url->port;
  agent->models_path_ = url->path + "/models";
  agent->thread_ = std::thread([a = agent.get()] { a->loop(); });
  return agent;
}

SiteAgent::~SiteAgent() { stop(); }

void SiteAgent::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  registrar_.reset();  // revokes
}

bool SiteAgent::registered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return registrar_ != nullptr && registrar_->registered();
}

Result<std::vector<std::string>> SiteAgent::check() const {
  http::HttpClient client(host_, port_, options_.check_interval);
  TG_ASSIGN_OR_RETURN(http::ClientResponse r, client.request("GET", models_path_, {}, ""));
  if (r.status != 200) return unavailable(options_.endpoint + " answered GET /models with " + std::to_string(r.status));
  if (!options_.models.empty()) return options_.models;
  return parse_model_list(r.body);
}

void SiteAgent::loop() {
  int failures = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto models = check();
    lock.lock();
    if (models) {
      failures = 0;
      if (!registrar_) {
        auto joined = join_site(options_.join, {{options_.endpoint, *models, options_.api, options_.max_concurrency}});
        if (joined) registrar_ = std::move(joined).value();
        else std::fprintf(stderr, "tokengrid site-agent: %s\n", joined.status().message().c_str());
      }
    } else if (++failures >= options_.unhealthy_threshold && registrar_) {
      std::fprintf(stderr, "tokengrid site-agent: %s; leaving the grid until it answers\n",
                   models.status().message().c_str());
      std::unique_ptr<SiteRegistrar> leaving = std::move(registrar_);
      lock.unlock();
      leaving.reset();
      lock.lock();
    }
    wake_.wait_for(lock, options_.check_interval, [this] { return stopping_; });
  }
}

}  // namespace tokengrid::controlplane
