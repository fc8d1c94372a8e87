// A site's event stream as the gateway's relay reads it: http::SseParser fed arbitrary bytes in
// pieces split where the input's first four bytes say (1 to 256 bytes, cycling), as a network
// delivers them; the events must be the same as from one whole feed. Each event then goes
// through the relay's chunk handling (relay.cpp): the validating scan, read_chunk() taking out
// the usage counts and tokengrid's token ids, the AnswerAssembler for clients that did not ask
// for a stream, and the serialization of what is sent on (the assembled answer must be JSON).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_scan.h"
#include "gateway/answer_assembler.h"
#include "gateway/client_usage.h"
#include "gateway/stream_chunk.h"
#include "http/sse.h"

namespace {

using json = nlohmann::ordered_json;

void relay_events(const std::vector<std::string>& events, bool chat) {
  tokengrid::gateway::AnswerAssembler assembler(chat);
  std::vector<int32_t> prompt_ids;
  tokengrid::gateway::SiteUsage usage;
  for (const std::string& data : events) {
    if (data == "[DONE]") continue;
    const std::optional<tokengrid::json_scan::Value> chunk = tokengrid::json_scan::scan(data);
    if (!chunk || !chunk->is_object()) return;  // the relay fails the attempt
    const tokengrid::gateway::ChunkReading r = tokengrid::gateway::read_chunk(*chunk, prompt_ids);
    if (r.has_error) return;  // so it does here
    if (r.usage) usage = *r.usage;
    if (!r.has_choices) continue;
    assembler.add(*chunk);
    (void)tokengrid::gateway::client_chunk(*chunk, r, "chatcmpl-gateway", /*include_usage=*/true);
  }
  if (usage.prompt_tokens > tokengrid::gateway::kMaxSiteTokens || usage.completion_tokens > tokengrid::gateway::kMaxSiteTokens ||
      usage.cached_tokens < 0)
    std::abort();
  tokengrid::gateway::UsageRecord record;
  record.prompt_tokens = usage.prompt_tokens;
  record.completion_tokens = usage.completion_tokens;
  const std::string answer = assembler.answer("chatcmpl-gateway", 1, "tiny", tokengrid::gateway::client_usage(record, chat));
  if (!json::accept(answer)) std::abort();
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
  relay_events(got, /*chat=*/true);
  relay_events(got, /*chat=*/false);
  return 0;
}
