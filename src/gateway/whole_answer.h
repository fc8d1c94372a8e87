// WholeAnswer: a site's answer to an embeddings request, read whole (it has no stream), checked
// before it is passed on: a JSON object whose `data` holds one object per input, each with an
// `embedding` (a list of numbers, or base64 text), and, optionally, OpenAI's `usage`.
//
// read_whole_answer() never throws: a body that is not JSON, nests too deep, is not an object,
// or holds another number of vectors is an error saying what is wrong (the relay counts it as
// the site failing). The vectors themselves are passed on as the site wrote them.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace tokengrid::gateway {

struct WholeAnswer {
  nlohmann::ordered_json document;  // the site's answer, `usage` removed
  nlohmann::ordered_json usage;     // the site's usage object, or null
};

Result<WholeAnswer> read_whole_answer(std::string_view body, size_t expected_items);

}  // namespace tokengrid::gateway
