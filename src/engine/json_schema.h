// JSON grammars for constrained decoding: any JSON value or object, a JSON Schema, a regex.
//
// Output is JSON that a strict parser accepts (RFC 8259) and, for a schema, that validates
// against it. The output language is a subset of the valid documents, chosen so that
// generation always terminates and stays compact:
//   - whitespace between tokens: nothing, one space, or a line feed and at most max_indent
//     spaces or tabs (as llama.cpp's JSON grammars), so a model cannot pad without end;
//   - object properties in the order the schema declares them; properties that are not
//     declared are never produced (valid whatever additionalProperties says), except for an
//     object schema without `properties`, whose keys are free;
//   - numbers: at most 16 integer digits, 16 fraction digits and a 2-digit exponent (so they
//     are finite doubles); with bounds, no exponent;
//   - strings: valid UTF-8, control characters escaped, \uXXXX escapes only for scalar values
//     (a high surrogate escape must be followed by a low one);
//   - nesting: at most the grammar's max_stack_depth levels.
//
// Supported keywords: type (including lists), enum, const, properties, required,
// additionalProperties (false, true, or a schema for objects without properties), items,
// prefixItems, minItems/maxItems (up to max_items), anyOf, oneOf (as anyOf: with disjoint
// alternatives, which is how discriminated unions are written, this is oneOf), allOf with one
// schema, $ref to "#", "#/$defs/..." or "#/definitions/..." (recursion allowed), nullable,
// minLength/maxLength (up to max_length), pattern (regex.h), format (date, time, date-time,
// uuid, email, ipv4), minimum/maximum (integer bounds for numbers; any for integers) and
// exclusiveMinimum/exclusiveMaximum (integers). Annotations (title, description, default,
// examples, $schema, $id, $comment, deprecated, readOnly, writeOnly) and unknown keywords are
// ignored, as JSON Schema says. Keywords tokengrid cannot enforce are refused with an error
// naming the keyword and where it is: multipleOf, minProperties, maxProperties,
// patternProperties, propertyNames, dependentRequired, dependentSchemas, dependencies,
// unevaluatedProperties, unevaluatedItems, contains, minContains, maxContains, uniqueItems
// (true), not, if/then/else, $dynamicRef, $recursiveRef, additionalItems, other formats,
// allOf with several schemas, and anything the limits below exclude.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "engine/grammar.h"

namespace tokengrid::engine {

struct JsonGrammarOptions {
  int max_indent = 20;
  int max_items = 256;      // minItems and maxItems above this are refused
  int max_length = 2048;    // minLength and maxLength above this are refused
  int max_schema_depth = 64;  // schemas nested deeper are refused
  GrammarLimits limits;
};

// Adds the rules for JSON values to a GrammarBuilder, so that callers can compose them with
// other text (tool calls wrap them in markers).
class JsonSchemaCompiler {
 public:
  explicit JsonSchemaCompiler(GrammarBuilder& builder, JsonGrammarOptions options = {});

  // One value valid against `schema`; `$ref`s resolve within `schema` itself.
  Result<GrammarExpr> value(const nlohmann::ordered_json& schema);
  GrammarExpr any_value();
  GrammarExpr any_object();
  GrammarExpr whitespace() const;

 private:
  Result<GrammarExpr> compile(const nlohmann::ordered_json& s, const std::string& path, int depth);
  Result<GrammarExpr> compile_typed(const nlohmann::ordered_json& s, const std::string& path, int depth);
  Result<GrammarExpr> compile_type(const std::string& type, const nlohmann::ordered_json& s,
                                   const std::string& path, int depth);
  Result<GrammarExpr> compile_ref(const std::string& ref, const std::string& path, int depth);
  Result<GrammarExpr> compile_object(const nlohmann::ordered_json& s, const std::string& path, int depth);
  Result<GrammarExpr> compile_array(const nlohmann::ordered_json& s, const std::string& path, int depth);
  Result<GrammarExpr> compile_string(const nlohmann::ordered_json& s, const std::string& path);
  Result<GrammarExpr> compile_number(const nlohmann::ordered_json& s, const std::string& path, bool integer);
  Result<GrammarExpr> compile_enum(const nlohmann::ordered_json& s, const std::string& path);
  // `schema` compiled into a rule of its own (objects, arrays and bounded strings), so that
  // its positions are shared by every place that uses it.
  Result<GrammarExpr> as_rule(const std::string& name, const nlohmann::ordered_json& s, const std::string& path,
                              int depth);
  GrammarExpr members(const std::vector<std::pair<std::string, GrammarExpr>>& props,
                      const std::vector<bool>& required);
  int shared_rule(const std::string& name, GrammarExpr body);

  GrammarBuilder& b_;
  JsonGrammarOptions options_;
  const nlohmann::ordered_json* root_ = nullptr;
  std::map<std::string, int> rules_;  // shared rules by name, and $ref targets by root + ref
  int value_rule_ = -1;
};

Result<std::shared_ptr<const Grammar>> json_schema_grammar(const nlohmann::ordered_json& schema,
                                                           const JsonGrammarOptions& options = {});
Result<std::shared_ptr<const Grammar>> json_schema_grammar_from_text(std::string_view schema_text,
                                                           const JsonGrammarOptions& options = {});
// Any JSON object (response_format json_object).
std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options = {});
// Text that the whole regular expression matches (regex.h).
Result<std::shared_ptr<const Grammar>> regex_grammar(std::string_view pattern, GrammarLimits limits = {});

}  // namespace tokengrid::engine
