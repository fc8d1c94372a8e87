#include "grid/grid_config.h"

#include <gtest/gtest.h>

#include "grid/clock.h"

namespace tokengrid::grid {
namespace {

constexpr const char* kGrid = R"(sites:
  - name: ashburn
    cloud: aws
    region: us-east-1
    zone: US-MIDA-PJM
    power_cap_kw: 20000
    pue: {base: 1.15, threshold_c: 18, rise_per_c: 0.01, max: 1.5}
    contract: {ppa_share: 0.5, ppa_price_usd_per_mwh: 70}
    accelerators: [{type: H100, count: 1024}, {type: cpu, count: 10}]
    models:
      - {name: Llama-3.1-70B-Instruct, accelerator: h100, tensor_parallel: 4, replicas: 200}
      - {name: llama-3.1-8b, accelerator: CPU, tensor_parallel: 1, replicas: 10}
    latency_ms: {us-east: 5, eu-west: 45}
  - name: montreal
    cloud: azure
    region: canadacentral
    zone: CA-ON
    accelerators: [{type: MI300X, count: 64}]
    models: [{name: llama-3.1-405b-fp8, accelerator: MI300X, tensor_parallel: 8, replicas: 8}]
placement:
  - {model: llama-3.1-405b, clouds: [azure], until: "2030-01-01"}
policy: {carbon_price_usd_per_t: 150}
)";

void expect_error(const std::string& yaml, const std::string& needle) {
  auto r = parse_grid_config(yaml, "grid.yaml");
  ASSERT_FALSE(r.is_ok()) << "accepted:\n" << yaml;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(GridConfig, ParsesAWholeGrid) {
  auto r = parse_grid_config(kGrid, "grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->sites.size(), 2u);
  const Site& a = r->sites[0];
  EXPECT_EQ(a.name, "ashburn");
  EXPECT_EQ(a.zone, "US-MIDA-PJM");
  EXPECT_EQ(a.power_cap_kw, 20000);
  EXPECT_DOUBLE_EQ(a.pue.at(28), 1.25);
  EXPECT_DOUBLE_EQ(a.pue.at(80), 1.5);
  EXPECT_DOUBLE_EQ(a.contract.price(30), 50);
  EXPECT_EQ(a.accelerator_count(AcceleratorKind::kH100), 1024);
  ASSERT_EQ(a.models.size(), 2u);
  EXPECT_EQ(a.models[0].model, "llama-3.1-70b");  // canonical
  EXPECT_EQ(a.models[1].accelerator, AcceleratorKind::kCpuServer);
  EXPECT_EQ(a.latency_ms("eu-west"), 45);
  EXPECT_TRUE(std::isinf(a.latency_ms("ap-south")));
  const Site& m = r->sites[1];
  EXPECT_EQ(m.power_cap_kw, 0);
  EXPECT_EQ(m.contract.ppa_share, 0);
  EXPECT_EQ(m.models[0].model, "llama-3.1-405b-fp8");
  ASSERT_EQ(r->placement.size(), 1u);
  EXPECT_EQ(r->placement[0].until_unix_s, *parse_utc_time("2030-01-01"));
  EXPECT_EQ(r->policy.carbon_price_usd_per_t, 150);
  EXPECT_EQ(r->policy.slo_margin, PolicyParams{}.slo_margin);

  // The placement rule keeps the FP8 405B on azure until 2030.
  const double t2026 = *parse_utc_time("2026-01-01");
  EXPECT_TRUE(placement_allowed(r->placement, m, "llama-3.1-405b-fp8", t2026));
  EXPECT_FALSE(placement_allowed(r->placement, a, "llama-3.1-405b-fp8", t2026));
  EXPECT_TRUE(placement_allowed(r->placement, a, "llama-3.1-405b", *parse_utc_time("2030-01-01")));
  EXPECT_TRUE(placement_allowed(r->placement, a, "llama-3.1-70b", t2026));
}

TEST(GridConfig, ErrorsNameFileLineAndField) {
  expect_error(replace(kGrid, "replicas: 200", "replicas: -2"), "grid.yaml:11: sites[0].models[0].replicas");
  expect_error(replace(kGrid, "replicas: 200", "replicas: many"), "'many' is not an integer");
  expect_error(replace(kGrid, "replicas: 200", "replicas: 300"), "use 1200 H100 but the site has 1024");
  expect_error(replace(kGrid, "type: MI300X", "type: TPU"), "grid.yaml:18: sites[1].accelerators[0].type: unknown "
                                                           "accelerator 'TPU'; known: A100");
  expect_error(replace(kGrid, "name: llama-3.1-8b", "name: gpt-5"), "sites[0].models[1].name: unknown model");
  expect_error(replace(kGrid, "accelerator: MI300X", "accelerator: H100"), "runs on H100 but the site lists none");
  expect_error(replace(kGrid, "    zone: CA-ON\n", ""), "grid.yaml:14: sites[1].zone: is required");
  expect_error(replace(kGrid, "name: montreal", "name: ashburn"), "site 'ashburn' is defined twice");
  expect_error(replace(kGrid, "power_cap_kw: 20000", "power_cap_kw: -1"), "sites[0].power_cap_kw: must be between");
  expect_error(replace(kGrid, "power_cap_kw: 20000", "power_kw: 1"), "grid.yaml:6: sites[0].power_kw: unknown field");
  expect_error(replace(kGrid, "base: 1.15", "base: 0.9"), "sites[0].pue.base");
  expect_error(replace(kGrid, "max: 1.5", "max: 1.1"), "sites[0].pue.max: must be at least base");
  expect_error(replace(kGrid, "ppa_share: 0.5, ppa_price_usd_per_mwh: 70", "ppa_share: 0.5"),
               "contract.ppa_price_usd_per_mwh: is required");
  expect_error(replace(kGrid, "ppa_share: 0.5", "ppa_share: 2"), "contract.ppa_share: must be between 0 and 1");
  expect_error(replace(kGrid, "eu-west: 45", "eu-west: far"), "sites[0].latency_ms.eu-west: 'far' is not a number");
  expect_error(replace(kGrid, "until: \"2030-01-01\"", "until: soon"), "placement[0].until");
  expect_error(replace(kGrid, "clouds: [azure]", "clouds: []"), "placement[0].clouds");
  expect_error(replace(kGrid, "until: \"2030-01-01\"", "from: 2031-01-01, until: 2030-01-01"),
               "until: must be after from");
  expect_error(replace(kGrid, "carbon_price_usd_per_t: 150", "carbon_price: 150"), "policy.carbon_price: unknown");
  expect_error(replace(kGrid, "tensor_parallel: 8", "tensor_parallel: 0"), "tensor_parallel: must be between 1");
  expect_error(replace(kGrid, "accelerators: [{type: MI300X, count: 64}]", "accelerators: []"),
               "sites[1].accelerators: must be a non-empty list");
  expect_error(replace(kGrid, "sites:", "site:"), "grid.site: unknown field");
  expect_error("placement: []\n", "sites: must be a non-empty list");
  expect_error("sites: [1, 2]\n", "sites[0]: must be a map");
  expect_error("sites: {a: 1}\n", "sites: must be a non-empty list");
  expect_error("- just\n- a list\n", "grid.yaml:1: expected a map");
  expect_error("sites: [\n  {name: a\n", "grid.yaml:");
  expect_error("sites: &a [*a]\n", "grid.yaml:");
  expect_error(replace(kGrid, "eu-west: 45", "[eu]: 45"), "sites[0].latency_ms: keys must be user region names");
  expect_error("sites: " + std::string(100000, '['), "grid.yaml:");
  expect_error(std::string("sites:\n  - name: \"\0\"\n", 22), "grid.yaml:");
}

TEST(GridConfig, TruncatedAndCorruptFilesNeverCrash) {
  const std::string text = kGrid;
  for (size_t cut = 0; cut < text.size(); cut += 7) (void)parse_grid_config(text.substr(0, cut), "grid.yaml");
  for (size_t i = 0; i < text.size(); i += 5) {
    std::string t = text;
    t[i] = "{}[]:,-&*!|>'\"%@`#\t\n"[i % 20];
    (void)parse_grid_config(t, "grid.yaml");
  }
  EXPECT_FALSE(load_grid_config("/nonexistent/grid.yaml").is_ok());
}

constexpr const char* kLiveSite = R"(sites:
  - name: virginia
    cloud: aws
    region: us-east-1
    zone: US-MIDA-PJM
    power_cap_kw: 0.2
    accelerators: [{type: cpu, count: 1}]
    cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2}
    endpoints:
      - {url: "http://127.0.0.1:8101", models: [tiny, tiny-chat], max_concurrency: 8}
      - {url: "http://127.0.0.1:8102", models: [tiny], api: openai}
)";

TEST(GridConfig, ALiveSiteMayBeDescribedByItsEndpointsAlone) {
  auto r = parse_grid_config(kLiveSite, "grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Site& s = r->sites[0];
  EXPECT_TRUE(s.models.empty());
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].url, "http://127.0.0.1:8101");
  EXPECT_EQ(s.endpoints[0].api, "tokengrid");
  EXPECT_EQ(s.endpoints[0].max_concurrency, 8);
  EXPECT_EQ(s.endpoints[1].api, "openai");
  EXPECT_TRUE(s.endpoint_serves("tiny-chat"));
  EXPECT_FALSE(s.endpoint_serves("llama-3.1-8b"));
  EXPECT_DOUBLE_EQ(s.cpu_power.watts(2), 40);
  EXPECT_EQ(s.cpu_power.cores, 2);
}

TEST(GridConfig, RejectsBadEndpointsAndPower) {
  expect_error(replace(kLiveSite, "\"http://127.0.0.1:8101\"", "\"https://x\""), "sites[0].endpoints[0].url: 'https://x' must start with http://");
  expect_error(replace(kLiveSite, "api: openai", "api: grpc"), "endpoints[1].api: must be tokengrid");
  expect_error(replace(kLiveSite, "models: [tiny, tiny-chat]", "models: []"), "endpoints[0].models: must be a non-empty list");
  expect_error(replace(kLiveSite, "8102", "8101"), "endpoints[1].url: 'http://127.0.0.1:8101' is listed twice");
  expect_error(replace(kLiveSite, "busy_core_w: 10", "busy_core_w: -1"), "grid.yaml:8: sites[0].cpu_power.busy_core_w: must be between 0");
  expect_error(replace(kLiveSite, "cores: 2", "cores: many"), "cpu_power.cores: 'many' is not an integer");
  expect_error(replace(kLiveSite, "max_concurrency: 8", "max_concurency: 8"), "unknown field");
  expect_error(replace(kLiveSite, "endpoints:\n      - {url: \"http://127.0.0.1:8101\", models: [tiny, tiny-chat], max_concurrency: 8}\n      - {url: \"http://127.0.0.1:8102\", models: [tiny], api: openai}\n", "endpoints: {url: x}\n"), "endpoints: must be a list");
}

TEST(GridConfig, ASiteMayLeaveItsEndpointsToItsRegistration) {
  auto r = parse_grid_config(replace(kLiveSite, "endpoints:\n      - {url: \"http://127.0.0.1:8101\", models: [tiny, tiny-chat], max_concurrency: 8}\n      - {url: \"http://127.0.0.1:8102\", models: [tiny], api: openai}\n", "endpoints: []\n"), "grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->sites[0].endpoints.empty());
  EXPECT_EQ(r->sites[0].zone, "US-MIDA-PJM");
}

}  // namespace
}  // namespace tokengrid::grid
