// A gateway's batch object as `tokengrid batch` reads it (batch_client.h) on arbitrary bytes: a
// batch or an error, never a crash; a batch's counts are possible and what is shown of it is
// printable (no terminal escapes).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/json_depth.h"
#include "gateway/batch_client.h"
#include "gateway/batch_command.h"

namespace {

bool printable_line(const std::string& s) {
  for (char c : s)
    if (c < 0x20 || c >= 0x7f) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json answer = tokengrid::parse_json_bounded(std::string_view(reinterpret_cast<const char*>(data), size));
  if (answer.is_discarded()) return 0;
  auto batch = tokengrid::gateway::read_batch_object(answer);
  if (!batch.is_ok()) return 0;
  if (batch->total < 0 || batch->completed < 0 || batch->failed < 0 || (batch->total > 0 && batch->done() > batch->total))
    std::abort();
  if (!printable_line(tokengrid::gateway::batch_line(*batch))) std::abort();
  for (const std::string& e : batch->errors)
    if (!printable_line(e)) std::abort();
  return 0;
}
