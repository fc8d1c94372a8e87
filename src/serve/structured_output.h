// Structured output: the grammar a request's output must match, from its response_format (or
// vLLM's guided_json, guided_regex and guided_choice), compiled by the engine's grammar
// compilers (engine/json_schema.h, engine/regex.h).
//
// GrammarCache keeps compiled grammars by a key that names everything they were built from, so
// requests that repeat a schema share one Grammar, and with it the engine's cached token masks.
// It is thread safe; a failed compilation is not cached.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "http/openai_protocol.h"

namespace tokengrid::serve {

using GrammarResult = http::ApiResult<std::shared_ptr<const engine::Grammar>>;

class GrammarCache {
 public:
  explicit GrammarCache(size_t capacity = 256) : capacity_(capacity) {}

  // The grammar kept under `key`, or the one `compile` builds (kept when it succeeds).
  GrammarResult get(const std::string& key, const std::function<GrammarResult()>& compile);

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const engine::Grammar>>;
  size_t capacity_;
  std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// The expression for one output in the given format, its rules added through `compiler`;
// format.kind must not be kText. Errors name format.param.
http::ApiResult<engine::GrammarExpr> response_format_expr(const http::ResponseFormat& format,
                                                          engine::JsonSchemaCompiler& compiler);
// A key that identifies the format, for GrammarCache.
std::string response_format_key(const http::ResponseFormat& format);
// The grammar for a whole output; null for plain text.
GrammarResult response_format_grammar(const http::ResponseFormat& format, GrammarCache& cache);
// An engine error from compiling a grammar, as the 400 that names the field it came from.
http::ApiError grammar_error(const Status& status, const std::string& param);

}  // namespace tokengrid::serve
