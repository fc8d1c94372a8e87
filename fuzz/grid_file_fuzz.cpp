// The gateway's grid file (gateway_config.h, and through it the sites' schema of
// grid_config.h) on arbitrary bytes: a config or an error naming where, never a crash. The file
// claims to live in a directory that does not exist, so relative paths it names lead nowhere.
#include <cstdint>
#include <string>

#include "gateway/gateway_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)tokengrid::gateway::parse_gateway_config(text, "/nonexistent-tokengrid-fuzz/grid.yaml");
  return 0;
}
