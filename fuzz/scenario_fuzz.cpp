// Simulator scenarios (scenario.h, with the sites' schema of grid_config.h) on arbitrary YAML:
// a scenario or an error naming where, never a crash. Inputs may name the fixture files of
// fuzz_files.h by relative path.
#include <cstdint>
#include <string>

#include "fuzz_files.h"
#include "sim/scenario.h"

static tokengrid::fuzz::FixtureCleanup cleanup;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)tokengrid::sim::parse_scenario(text, tokengrid::fuzz::fixture_input_path());
  return 0;
}
