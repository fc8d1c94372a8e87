// The grid signals CSV reader (utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c) on arbitrary
// bytes: an error or a series, never a crash; a series it accepts answers at() anywhere.
#include <cstdint>
#include <string_view>

#include "grid/signals.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto series = tokengrid::grid::parse_signals_csv(text, "ZONE", "fuzz.csv");
  if (!series.is_ok()) return 0;
  tokengrid::grid::Signals signals;
  if (!signals.add(std::move(series).value()).is_ok()) return 0;
  for (double t : {-1e12, 0.0, 1.7e9, 1.72e9, 4e9, 1e12}) (void)signals.at(0, t);
  return 0;
}
