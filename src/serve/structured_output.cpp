#include "serve/structured_output.h"

#include <nlohmann/json.hpp>

#include "engine/regex.h"

namespace tokengrid::serve {

using engine::GrammarExpr;
using http::ResponseFormat;

GrammarResult GrammarCache::get(const std::string& key, const std::function<GrammarResult()>& compile) {
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  GrammarResult built = compile();  // outside the lock: compiling a large schema takes a while
  if (!built.is_ok() || !built.value()) return built;
  std::lock_guard lock(mu_);
  if (index_.contains(key)) return index_[key]->second;
  lru_.emplace_front(key, built.value());
  index_[key] = lru_.begin();
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return built;
}

http::ApiError grammar_error(const Status& status, const std::string& param) {
  return http::invalid_request("'" + param + "' cannot be used: " + status.message(), param);
}

http::ApiResult<GrammarExpr> response_format_expr(const ResponseFormat& format, engine::JsonSchemaCompiler& compiler) {
  switch (format.kind) {
    case ResponseFormat::Kind::kJsonObject:
      return GrammarExpr::seq({compiler.whitespace(), compiler.any_object()});
    case ResponseFormat::Kind::kJsonSchema: {
      auto schema = nlohmann::ordered_json::parse(format.schema, nullptr, false);
      if (schema.is_discarded()) return http::invalid_request("the JSON Schema is not valid JSON", format.param);
      auto value = compiler.value(schema);
      if (!value.is_ok()) return grammar_error(value.status(), format.param);
      return GrammarExpr::seq({compiler.whitespace(), std::move(value).value()});
    }
    case ResponseFormat::Kind::kRegex: {
      auto re = engine::regex_expr(format.regex);
      if (!re.is_ok()) return grammar_error(re.status(), format.param);
      return std::move(re).value();
    }
    case ResponseFormat::Kind::kChoice: {
      std::vector<GrammarExpr> choices;
      for (const std::string& c : format.choices) choices.push_back(GrammarExpr::literal(c));
      return GrammarExpr::alt(std::move(choices));
    }
    case ResponseFormat::Kind::kText: break;
  }
  return http::invalid_request("plain text needs no grammar", format.param);
}

std::string response_format_key(const ResponseFormat& format) {
  switch (format.kind) {
    case ResponseFormat::Kind::kJsonObject: return "json_object";
    case ResponseFormat::Kind::kJsonSchema: return "json_schema " + format.schema;
    case ResponseFormat::Kind::kRegex: return "regex " + format.regex;
    case ResponseFormat::Kind::kChoice: return "choice " + nlohmann::json(format.choices).dump();
    case ResponseFormat::Kind::kText: break;
  }
  return "text";
}

GrammarResult response_format_grammar(const ResponseFormat& format, GrammarCache& cache) {
  if (format.kind == ResponseFormat::Kind::kText) return std::shared_ptr<const engine::Grammar>();
  return cache.get(response_format_key(format), [&]() -> GrammarResult {
    engine::GrammarBuilder builder;
    engine::JsonSchemaCompiler compiler(builder);
    const int root = builder.declare("output");
    auto expr = response_format_expr(format, compiler);
    if (!expr.is_ok()) return expr.error();
    builder.define(root, std::move(expr).value());
    auto grammar = builder.build(root);
    if (!grammar.is_ok()) return grammar_error(grammar.status(), format.param);
    return std::move(grammar).value();
  });
}

}  // namespace tokengrid::serve
