// Server-Sent Events as the gateway reads a site's stream: http::SseParser fed arbitrary bytes
// in pieces split where the input's first four bytes say (pieces of 1 to 256 bytes, cycling),
// as a network delivers them. The events must be the same as from one whole feed, and each
// event's data goes through what the relay does with a chunk: a bounded parse, a copy, an edit
// and a serialization.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "http/sse.h"

namespace {

void relay_event(const std::string& data) {
  if (data == "[DONE]") return;
  nlohmann::ordered_json chunk = tokengrid::parse_json_bounded<nlohmann::ordered_json>(data);
  if (!chunk.is_object()) return;
  nlohmann::ordered_json stripped = chunk;
  stripped.erase("usage");
  (void)stripped.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t* splits = data;
  std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);

  tokengrid::http::SseParser whole;
  const std::vector<std::string> expected = whole.feed(stream);

  tokengrid::http::SseParser pieces;
  std::vector<std::string> got;
  for (size_t at = 0, i = 0; at < stream.size(); ++i) {
    const size_t n = std::min<size_t>(stream.size() - at, size_t{splits[i % 4]} + 1);
    for (std::string& event : pieces.feed(stream.substr(at, n))) got.push_back(std::move(event));
    at += n;
  }
  if (got != expected) std::abort();
  for (const std::string& event : got) relay_event(event);
  return 0;
}
