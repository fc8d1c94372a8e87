// A site's whole answer to an embeddings request (whole_answer.h) on arbitrary bytes: read for
// one and for three inputs, an answer or an error, never a crash; an answer holds exactly that
// many vectors, has no usage left in it, and serializes as the gateway sends it on.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/whole_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (size_t inputs : {size_t{1}, size_t{3}}) {
    auto answer = tokengrid::gateway::read_whole_answer(body, inputs);
    if (!answer.is_ok()) continue;
    if (!answer->document.is_object() || answer->document["data"].size() != inputs || answer->document.contains("usage"))
      std::abort();
    if (answer->usage.prompt_tokens > tokengrid::gateway::kMaxSiteTokens || answer->usage.cached_tokens < 0) std::abort();
    answer->document["usage"] = {{"prompt_tokens", 1}};
    (void)answer->document.dump();
  }
  return 0;
}
