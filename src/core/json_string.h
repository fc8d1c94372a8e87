// append_json_string: a string written as JSON text, escaped exactly as nlohmann::json's
// dump() escapes it (", \ and the control characters; every other byte as it is, UTF-8 left
// unescaped), so that an answer written as text reads byte for byte as one built as a document
// and dumped, without building the document.
//
// The string must be valid UTF-8, as every string a json_scan value or a document holds is.
#pragma once

#include <string>
#include <string_view>

namespace tokengrid {

void append_json_string(std::string& out, std::string_view s);

}  // namespace tokengrid
