// A signal feed's answer (live_signals.h) on arbitrary bytes, for a feed of one zone and of
// several: samples or an error, never a crash; accepted values are finite.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/live_signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  static const std::vector<std::string> one{"DE-LU"};
  static const std::vector<std::string> several{"DE-LU", "US-CAL-CISO", "SG"};
  for (const auto* zones : {&one, &several}) {
    auto samples = tokengrid::gateway::parse_signal_feed(body, *zones);
    if (!samples.is_ok()) continue;
    for (const auto& [zone, s] : *samples) {
      if (!std::isfinite(s.price_usd_per_mwh) || !std::isfinite(s.carbon_g_per_kwh) || !std::isfinite(s.temp_c))
        std::abort();
    }
  }
  return 0;
}
