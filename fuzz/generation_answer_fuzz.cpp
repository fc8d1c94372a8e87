// A site's whole answer to a short generation request (whole_answer.h) on arbitrary bytes: read
// for one and for two choices, an answer or an error, never a crash; the counts read are within
// bounds, and the answer as the client gets it is JSON with the gateway's id, model and usage.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/whole_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using json = nlohmann::ordered_json;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (size_t choices : {size_t{1}, size_t{2}}) {
    auto answer = tokengrid::gateway::read_whole_generation(body, choices);
    if (!answer.is_ok()) continue;
    const tokengrid::gateway::SiteUsage& u = answer->usage;
    if (u.prompt_tokens > tokengrid::gateway::kMaxSiteTokens || u.completion_tokens > tokengrid::gateway::kMaxSiteTokens ||
        u.cached_tokens < 0)
      std::abort();
    const std::string out = tokengrid::gateway::client_generation_answer(answer->document, "chatcmpl-gw", "tiny",
                                                                        R"({"prompt_tokens":1})");
    const json client = json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (!client.is_object() || client["id"] != "chatcmpl-gw" || client["model"] != "tiny" ||
        client["usage"] != json{{"prompt_tokens", 1}} || client["choices"].size() != choices)
      std::abort();
  }
  return 0;
}
