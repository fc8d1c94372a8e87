#include "grid/site.h"

namespace tokengrid::grid {
namespace {

// A rule for a model also covers its FP8 variant.
std::string_view base_model(std::string_view model) {
  return model.ends_with("-fp8") ? model.substr(0, model.size() - 4) : model;
}

}  // namespace

bool placement_allowed(std::span<const PlacementRule> rules, const Site& site, std::string_view model,
                       double unix_s) {
  const std::string_view base = base_model(model);
  for (const auto& rule : rules) {
    if (base_model(rule.model) != base) continue;
    if (unix_s < rule.from_unix_s || unix_s >= rule.until_unix_s) continue;
    bool on_allowed_cloud = false;
    for (const auto& cloud : rule.clouds) on_allowed_cloud |= cloud == site.cloud;
    if (!on_allowed_cloud) return false;
  }
  return true;
}

}  // namespace tokengrid::grid
