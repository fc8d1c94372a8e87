// The OpenAI error responses the service sends, and how engine errors map onto them.
#pragma once

#include <string>

#include "core/status.h"
#include "http/http_message.h"
#include "http/openai_protocol.h"

namespace tokengrid::serve {

http::HttpResponse error_response(const http::ApiError& error);
http::ApiError api_error(int status, std::string type, std::string message, std::string code = "");
// kInvalidArgument: 400; kResourceExhausted: 429; kUnavailable: 503; anything else: 500.
http::ApiError error_from_status(const Status& status);
// The answer to a request the server cancelled because it is shutting down.
http::ApiError shutting_down_error();

}  // namespace tokengrid::serve
