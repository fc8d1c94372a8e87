// What the gateway sends a site for one attempt at a request, and how it reads each streamed
// chunk the site answers: the extension fields of tokengrid workers (docs/serve.md, "Token ids
// and resuming") are read and removed, so the client sees OpenAI's chunk. Chunks are read by
// byte ranges (core/json_scan.h) and passed on with only what changes rewritten: a stream's
// every chunk goes through here, and a document per chunk was most of the relay's cost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_scan.h"
#include "gateway/site_usage.h"

namespace tokengrid::gateway {

// The tokens already delivered to the client, to continue from on another site.
struct Delivered {
  std::vector<int32_t> prompt_ids;  // as the first tokengrid site tokenized the prompt
  std::vector<int32_t> ids;         // generated so far (choice 0)
  bool ids_complete = true;         // every delivered chunk carried its ids
  std::string text;                 // generated so far (choice 0)
  int64_t tokens = 0;
};

// The body for one attempt: always a stream with usage; a tokengrid site is asked for token
// ids and given the ids to resume from, any other site the delivered text (best effort: the
// prompt continued for completions, a final assistant message to continue for chat).
nlohmann::ordered_json attempt_body(nlohmann::ordered_json client_body, bool chat, bool tokengrid_site,
                                    const Delivered& delivered);
// What every attempt changes in a body, in place: a stream with usage, and for a tokengrid site
// the request for token ids (resuming after `resume_ids` when there are some). Applied again for
// another site, it leaves that site's changes only.
void ask_for_stream(nlohmann::ordered_json& body, bool tokengrid_site, const std::vector<int32_t>& resume_ids);

// What one chunk of a site's stream holds beyond OpenAI's fields.
struct ChunkReading {
  bool has_choices = false;      // false: the usage chunk, or a chunk with no choice
  bool has_content = false;      // text, tool calls or a finish reason for some choice
  bool has_extensions = false;   // token ids to strip before a client sees the chunk
  bool has_error = false;        // an "error" member: the site failed midway; nothing else is read
  std::vector<int32_t> ids;      // token ids of choice 0's text (tokengrid sites)
  bool ids_present = false;
  std::string text;              // choice 0's text in this chunk
  std::optional<SiteUsage> usage;  // when the chunk carried a usage object
};

// Reads a chunk (an object from json_scan::scan) without building a document: the extension
// fields (prompt_token_ids, token_ids) and the usage; stores the prompt ids into `prompt_ids`
// when empty. One walk over the chunk's members finds all of them and an "error".
ChunkReading read_chunk(json_scan::Value chunk, std::vector<int32_t>& prompt_ids);

// The chunk as the client sees it: the site's bytes with the id replaced by `id`, the usage
// and the extension fields left out, and "usage":null added when the client asked for usage
// (OpenAI's chunks before the last carry a null usage then).
std::string client_chunk(json_scan::Value chunk, const ChunkReading& reading, std::string_view id, bool include_usage);

}  // namespace tokengrid::gateway
