#include "grid/site.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

TEST(Pue, RisesAboveTheThresholdUpToTheCap) {
  const PueModel pue{1.1, 20, 0.015, 1.4};
  EXPECT_DOUBLE_EQ(pue.at(-10), 1.1);
  EXPECT_DOUBLE_EQ(pue.at(20), 1.1);
  EXPECT_DOUBLE_EQ(pue.at(30), 1.25);
  EXPECT_DOUBLE_EQ(pue.at(50), 1.4);
}

TEST(EnergyContract, SpotPpaAndMix) {
  EXPECT_DOUBLE_EQ((EnergyContract{0, 70}).price(25), 25);
  EXPECT_DOUBLE_EQ((EnergyContract{1, 70}).price(25), 70);
  // Not bit-exact: a compiler may fuse either side's multiply and add (clang does).
  EXPECT_NEAR((EnergyContract{0.4, 70}).price(-50), 0.4 * 70 - 0.6 * 50, 1e-12);
}

TEST(Site, LooksUpModelsLatencyAndAccelerators) {
  Site site;
  site.accelerators = {{AcceleratorKind::kH100, 64}, {AcceleratorKind::kH100, 32}, {AcceleratorKind::kL40S, 8}};
  site.models = {{"llama-3.1-8b", AcceleratorKind::kL40S, 1, 8}};
  site.latency = {{"eu-west", 12}};
  EXPECT_EQ(site.accelerator_count(AcceleratorKind::kH100), 96);
  EXPECT_EQ(site.accelerator_count(AcceleratorKind::kB200), 0);
  ASSERT_NE(site.find_model("llama-3.1-8b"), nullptr);
  EXPECT_EQ(site.find_model("llama-3.1-8b")->replicas, 8);
  EXPECT_EQ(site.find_model("llama-3.1-70b"), nullptr);
  EXPECT_EQ(site.latency_ms("eu-west"), 12);
  EXPECT_TRUE(std::isinf(site.latency_ms("us-east")));
}

TEST(Placement, RulesApplyOnlyToTheirModelAndWindow) {
  Site aws, azure;
  aws.cloud = "aws";
  azure.cloud = "azure";
  std::vector<PlacementRule> rules = {{"llama-3.1-405b", {"azure", "oracle"}, 1000, 2000}};
  EXPECT_TRUE(placement_allowed(rules, azure, "llama-3.1-405b", 1500));
  EXPECT_FALSE(placement_allowed(rules, aws, "llama-3.1-405b", 1500));
  EXPECT_FALSE(placement_allowed(rules, aws, "llama-3.1-405b-fp8", 1500));
  EXPECT_TRUE(placement_allowed(rules, aws, "llama-3.1-405b", 999));
  EXPECT_TRUE(placement_allowed(rules, aws, "llama-3.1-405b", 2000));  // until is exclusive
  EXPECT_TRUE(placement_allowed(rules, aws, "llama-3.1-70b", 1500));
  EXPECT_TRUE(placement_allowed({}, aws, "llama-3.1-405b", 1500));
  // Every rule in force must hold.
  rules.push_back({"llama-3.1-405b", {"aws", "azure"}, 0, 5000});
  EXPECT_TRUE(placement_allowed(rules, azure, "llama-3.1-405b", 1500));
  EXPECT_FALSE(placement_allowed(rules, aws, "llama-3.1-405b", 1500));
  EXPECT_TRUE(placement_allowed(rules, aws, "llama-3.1-405b", 3000));
}

}  // namespace
}  // namespace tokengrid::grid
