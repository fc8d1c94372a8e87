// The batch API's objects in OpenAI's shapes: the file object, the batch object (with
// tokengrid's `plan` and `footprint` beside OpenAI's fields), and a line of a batch's output or
// error file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "gateway/batch_store.h"

namespace tokengrid::gateway {

// {"id", "object": "file", "bytes", "created_at", "expires_at", "filename", "purpose",
//  "status": "processed", "status_details": null}
nlohmann::ordered_json file_object(const FileRecord& file);

// OpenAI's batch object; `usage` is OpenAI's (input and output tokens); `footprint` adds what
// the finished requests drew, cost and emitted, and the hours they ran in.
nlohmann::ordered_json batch_object(const BatchRecord& batch, const BatchUsage& usage);

// {"id": "batch_req_...", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}
std::string output_line(const std::string& custom_id, int status_code, const std::string& request_id,
                        const nlohmann::json& body);
// {"id", "custom_id", "response": null, "error": {"code", "message"}}: a request that never ran.
std::string error_line(const std::string& custom_id, const std::string& code, const std::string& message);

}  // namespace tokengrid::gateway
