// WholeAnswer: a site's answer read whole (no stream), checked before it is passed on.
//
//   - Embeddings: a JSON object whose `data` holds one object per input, each with an
//     `embedding` (a list of numbers, or base64 text), and, optionally, OpenAI's `usage`.
//   - Generation (a short request the client did not stream, relay.h): a chat.completion or
//     text_completion object whose `choices` holds one object per choice asked for, without an
//     `error`. It is read by byte ranges (core/json_scan.h), as stream chunks are, and passed on
//     as the site wrote it but for the id, the model and the usage, which are the gateway's.
//
// The readers never throw: a body that is not JSON, nests too deep, is not an object, or holds
// another number of vectors or choices is an error saying what is wrong (the relay counts it as
// the site failing). What is passed on is passed on as the site wrote it.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/json_scan.h"
#include "core/status.h"
#include "gateway/site_usage.h"

namespace tokengrid::gateway {

struct WholeAnswer {
  nlohmann::ordered_json document;  // the site's answer, `usage` removed
  SiteUsage usage;                  // the counts of the site's usage object
};

Result<WholeAnswer> read_whole_answer(std::string_view body, size_t expected_items);

struct WholeGeneration {
  json_scan::Value document;  // a view of the body read, which must outlive it
  SiteUsage usage;            // the counts of the site's usage object
};

Result<WholeGeneration> read_whole_generation(std::string_view body, size_t expected_choices);

// The answer as the client sees it: the site's members in their order with `id` and `model`
// replaced by these, and `usage` (JSON text) in place of the site's, or last when it had none.
std::string client_generation_answer(json_scan::Value document, std::string_view id, std::string_view model,
                                     std::string_view usage);

}  // namespace tokengrid::gateway
