// tokengrid site-agent: joins any OpenAI-compatible server to the grid as a site through etcd,
// for as long as it answers (controlplane/site_agent.h).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "controlplane/site_agent.h"
#include "core/shutdown_signals.h"

namespace tokengrid::cli {
namespace {

int run_site_agent(int argc, char** argv) {
  CLI::App app("Register an OpenAI-compatible server as a site in etcd while it answers; gateways started with "
               "--etcd route to it.",
               argv[0]);
  controlplane::SiteAgentOptions o;
  app.add_option("--join", o.join.etcd, "etcd://HOST:PORT")->required();
  app.add_option("--site", o.join.site, "the site's name in the grid")->required();
  app.add_option("--endpoint", o.endpoint, "the server's OpenAI base URL, http://HOST:PORT/v1")->required();
  app.add_option("--site-file", o.join.site_file, "the site's description in the grid file's schema, for gateways "
                                                  "whose grid file does not name it")
      ->check(CLI::ExistingFile);
  app.add_option("--models", o.models, "the models it serves (default: what GET /models lists)")->delimiter(',');
  app.add_option("--api", o.api, "openai, or tokengrid for a tokengrid worker")
      ->check(CLI::IsMember({"openai", "tokengrid"}))
      ->capture_default_str();
  app.add_option("--max-concurrency", o.max_concurrency, "requests it runs at once at full power")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--lease-ttl", o.join.ttl_s, "seconds the site stays registered after the agent stops renewing")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();
  app.add_option("--etcd-prefix", o.join.prefix, "where tokengrid's keys live in etcd")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const sigset_t signals = block_shutdown_signals();
  auto agent = controlplane::SiteAgent::start(o);
  if (!agent) {
    std::fprintf(stderr, "tokengrid site-agent: %s\n", agent.status().message().c_str());
    return 2;
  }
  std::fprintf(stderr, "tokengrid site-agent: watching %s for site %s\n", o.endpoint.c_str(), o.join.site.c_str());
  wait_for_shutdown_signal(signals);
  (*agent)->stop();
  std::fprintf(stderr, "tokengrid site-agent: left the grid\n");
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(site_agent, "site-agent", "join an OpenAI-compatible server to the grid through etcd",
                           run_site_agent);

}  // namespace tokengrid::cli
