// The `usage` object a client sees: OpenAI's counts (a generation's, or an embedding's prompt
// tokens only) and, as extra fields, the request's site, zone, energy, cost and carbon,
// written as JSON text without building a document (every answer carries one).
//
// Guarantees: the members and their order are those of docs/gateway.md ("Metering"); numbers
// read back as exactly the record's values (the shortest text that does); a value that is not
// finite is written as null, as nlohmann::json writes it.
#pragma once

#include <string>

#include "gateway/usage_record.h"

namespace tokengrid::gateway {

std::string client_usage(const UsageRecord& record, bool generation);

}  // namespace tokengrid::gateway
