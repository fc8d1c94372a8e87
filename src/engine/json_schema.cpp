#include "engine/json_schema.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>

#include "engine/regex.h"

namespace tokengrid::engine {

namespace {

using json = nlohmann::ordered_json;
using E = GrammarExpr;

constexpr int64_t kMaxMagnitude = 9999999999999999;  // 16 digits

const std::set<std::string, std::less<>>& refused_keywords() {
  static const std::set<std::string, std::less<>> k = {
      "multipleOf", "minProperties", "maxProperties", "patternProperties", "propertyNames",
      "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties",
      "unevaluatedItems", "contains", "minContains", "maxContains", "not", "if", "then", "else",
      "$dynamicRef", "$recursiveRef", "additionalItems"};
  return k;
}

const std::set<std::string, std::less<>>& annotation_keywords() {
  static const std::set<std::string, std::less<>> k = {
      "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
      "readOnly", "writeOnly", "$defs", "definitions", "$anchor"};
  return k;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Status unsupported_keyword(const std::string& keyword, const std::string& path, const std::string& why = "") {
  return unsupported("JSON Schema keyword '" + keyword + "' at " + path +
                     " cannot be enforced by tokengrid's constrained decoding" + (why.empty() ? "" : " (" + why + ")") +
                     "; remove it or relax the schema");
}

Status bad_schema(const std::string& path, const std::string& what) {
  return invalid_argument("the JSON Schema at " + path + " " + what);
}

E digit() { return E::bytes({{'0', '9'}}); }
E digits(int min, int max) { return E::repeat(digit(), min, max); }
E hex() { return E::bytes({{'0', '9'}, {'A', 'F'}, {'a', 'f'}}); }

E integer_part() { return E::alt({E::literal("0"), E::seq({E::bytes({{'1', '9'}}), digits(0, 15)})}); }
E fraction() { return E::seq({E::literal("."), digits(1, 16)}); }
E exponent() { return E::seq({E::bytes({{'E', 'E'}, {'e', 'e'}}), E::optional(E::bytes({{'+', '+'}, {'-', '-'}})), digits(1, 2)}); }
E number_expr() {
  return E::seq({E::optional(E::literal("-")), integer_part(), E::optional(fraction()), E::optional(exponent())});
}
E integer_expr() { return E::seq({E::optional(E::literal("-")), integer_part()}); }

// One character of a JSON string: unescaped, an escape, or a \u escape of a scalar value.
E string_char() {
  E plain = codepoints_expr({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}}, false);
  E scalar = E::alt({
      E::seq({E::bytes({{'0', '9'}, {'A', 'C'}, {'a', 'c'}, {'E', 'F'}, {'e', 'f'}}), hex(), hex(), hex()}),
      E::seq({E::bytes({{'D', 'D'}, {'d', 'd'}}), E::bytes({{'0', '7'}}), hex(), hex()}),
      E::seq({E::bytes({{'D', 'D'}, {'d', 'd'}}), E::bytes({{'8', '9'}, {'A', 'B'}, {'a', 'b'}}), hex(), hex(),
              E::literal("\\u"), E::bytes({{'D', 'D'}, {'d', 'd'}}), E::bytes({{'C', 'F'}, {'c', 'f'}}), hex(), hex()}),
  });
  E escape = E::seq({E::literal("\\"), E::alt({E::bytes({{'"', '"'}, {'\\', '\\'}, {'/', '/'}, {'b', 'b'}, {'f', 'f'},
                                                         {'n', 'n'}, {'r', 'r'}, {'t', 't'}}),
                                               E::seq({E::literal("u"), scalar})})});
  return E::alt({std::move(plain), std::move(escape)});
}

E quoted(E content) { return E::seq({E::literal("\""), std::move(content), E::literal("\"")}); }

bool all_of(std::string_view s, char c) { return s.find_first_not_of(c) == std::string_view::npos; }

// Decimal strings of exactly x.size() digits from x to y (x <= y, same length).
E fixed_range(const std::string& x, const std::string& y) {
  if (x.empty()) return E::empty();
  if (x[0] == y[0]) return E::seq({E::byte(static_cast<uint8_t>(x[0])), fixed_range(x.substr(1), y.substr(1))});
  const size_t rest = x.size() - 1;
  std::vector<E> parts;
  char low = x[0], high = y[0];
  if (!all_of(x.substr(1), '0')) {
    parts.push_back(E::seq({E::byte(static_cast<uint8_t>(x[0])), fixed_range(x.substr(1), std::string(rest, '9'))}));
    ++low;
  }
  if (!all_of(y.substr(1), '9')) {
    parts.push_back(E::seq({E::byte(static_cast<uint8_t>(y[0])), fixed_range(std::string(rest, '0'), y.substr(1))}));
    --high;
  }
  if (low <= high) {
    parts.push_back(E::seq({E::bytes({{static_cast<uint8_t>(low), static_cast<uint8_t>(high)}}),
                            digits(static_cast<int>(rest), static_cast<int>(rest))}));
  }
  return E::alt(std::move(parts));
}

// Canonical decimals (no leading zeros) of a..b, 1 <= a <= b.
E positive_range(int64_t a, int64_t b) {
  std::vector<E> parts;
  int64_t power = 1;
  for (int len = 1; len <= 16; ++len, power *= 10) {
    const int64_t lo = std::max(a, power), hi = std::min(b, power * 10 - 1);
    if (lo <= hi) parts.push_back(fixed_range(std::to_string(lo), std::to_string(hi)));
  }
  return E::alt(std::move(parts));
}

// Integers lo..hi in canonical JSON form.
E integer_range(int64_t lo, int64_t hi) {
  std::vector<E> parts;
  if (lo < 0) parts.push_back(E::seq({E::literal("-"), positive_range(std::max<int64_t>(1, -hi), -lo)}));
  if (lo <= 0 && hi >= 0) parts.push_back(E::literal("0"));
  if (hi > 0) parts.push_back(positive_range(std::max<int64_t>(1, lo), hi));
  return E::alt(std::move(parts));
}

// Numbers y with a <= y <= b (0 <= a <= b, integers), without exponent.
E nonnegative_range(int64_t a, int64_t b) {
  std::vector<E> parts;
  if (b == kMaxMagnitude) return E::seq({integer_range(a, b), E::optional(fraction())});  // unbounded above
  if (b > a) parts.push_back(E::seq({integer_range(a, b - 1), E::optional(fraction())}));
  E zeros = E::optional(E::seq({E::literal("."), E::repeat(E::literal("0"), 1, 16)}));
  parts.push_back(E::seq({E::literal(std::to_string(b)), std::move(zeros)}));
  return E::alt(std::move(parts));
}

E number_range(int64_t lo, int64_t hi) {
  if (lo >= 0) return nonnegative_range(lo, hi);
  if (hi <= 0) return E::seq({E::literal("-"), nonnegative_range(-hi, -lo)});
  return E::alt({nonnegative_range(0, hi), E::seq({E::literal("-"), nonnegative_range(0, -lo)})});
}

const char* format_regex(std::string_view format) {
  if (format == "date") {
    return "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
           "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29";
  }
  if (format == "time") return "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  if (format == "date-time") {
    return "([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
           "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)"
           "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  }
  if (format == "uuid") return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  if (format == "email") {
    return "[A-Za-z0-9_+-]{1,32}(\\.[A-Za-z0-9_+-]{1,32}){0,3}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\\.){1,4}"
           "[A-Za-z]{2,12}";
  }
  if (format == "ipv4") return "((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  return nullptr;
}

// A non-negative integer keyword, or nullopt when absent.
Result<std::optional<int64_t>> count_keyword(const json& s, const char* key, const std::string& path, int64_t cap) {
  auto it = s.find(key);
  if (it == s.end()) return std::optional<int64_t>();
  if (!it->is_number_integer() || it->get<int64_t>() < 0) return bad_schema(path, std::string("has '") + key + "' that is not a non-negative integer");
  if (it->get<int64_t>() > cap) return unsupported_keyword(key, path, "values above " + std::to_string(cap) + " are not supported");
  return std::optional<int64_t>(it->get<int64_t>());
}

bool matches_type(const json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return false;
}

Result<std::vector<std::string>> schema_types(const json& s, const std::string& path) {
  std::vector<std::string> types;
  auto it = s.find("type");
  if (it == s.end()) return types;
  if (it->is_string()) {
    types.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_string()) return bad_schema(path, "has a 'type' list with a non-string entry");
      types.push_back(t.get<std::string>());
    }
  } else {
    return bad_schema(path, "has a 'type' that is neither a string nor a list");
  }
  if (types.empty()) return bad_schema(path, "has an empty 'type' list");
  return types;
}

// The type to generate for a schema without "type", from the keywords it uses.
std::string inferred_type(const json& s) {
  for (const char* k : {"properties", "required", "additionalProperties"}) if (s.contains(k)) return "object";
  for (const char* k : {"items", "prefixItems", "minItems", "maxItems"}) if (s.contains(k)) return "array";
  for (const char* k : {"minLength", "maxLength", "pattern", "format"}) if (s.contains(k)) return "string";
  for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) if (s.contains(k)) return "number";
  return "";
}

// Only annotations (and the named keyword) may stand beside a keyword that replaces the schema.
Status only_annotations_beside(const json& s, std::string_view keyword, const std::string& path) {
  for (const auto& [key, value] : s.items()) {
    if (key == keyword || annotation_keywords().contains(key) || key == "nullable") continue;
    return unsupported_keyword(key, path, "beside '" + std::string(keyword) + "'");
  }
  return Status::ok();
}

}  // namespace

JsonSchemaCompiler::JsonSchemaCompiler(GrammarBuilder& builder, JsonGrammarOptions options)
    : b_(builder), options_(options) {}

GrammarExpr JsonSchemaCompiler::whitespace() const {
  // llama.cpp's choice: nothing, one space, or a line break and indentation.
  E indent = E::repeat(E::bytes({{' ', ' '}, {'\t', '\t'}}), 0, options_.max_indent);
  return E::optional(E::alt({E::literal(" "), E::seq({E::literal("\n"), std::move(indent)})}));
}

int JsonSchemaCompiler::shared_rule(const std::string& name, GrammarExpr body) {
  auto it = rules_.find(name);
  if (it != rules_.end()) return it->second;
  const int id = b_.add(name, std::move(body));
  rules_.emplace(name, id);
  return id;
}

GrammarExpr JsonSchemaCompiler::any_object() {
  any_value();
  const E key = E::call(shared_rule("string", quoted(E::star(string_char()))));
  E member = E::seq({key, whitespace(), E::literal(":"), whitespace(), E::call(value_rule_), whitespace()});
  E more = E::star(E::seq({E::literal(","), whitespace(), member}));
  return E::seq({E::literal("{"), whitespace(), E::optional(E::seq({member, more})), E::literal("}")});
}

GrammarExpr JsonSchemaCompiler::any_value() {
  if (value_rule_ >= 0) return E::call(value_rule_);
  value_rule_ = b_.declare("value");
  E element = E::seq({E::call(value_rule_), whitespace()});
  E array = E::seq({E::literal("["), whitespace(),
                    E::optional(E::seq({element, E::star(E::seq({E::literal(","), whitespace(), element}))})),
                    E::literal("]")});
  E string = E::call(shared_rule("string", quoted(E::star(string_char()))));
  E number = E::call(shared_rule("number", number_expr()));
  b_.define(value_rule_, E::alt({any_object(), std::move(array), std::move(string), std::move(number),
                                 E::literal("true"), E::literal("false"), E::literal("null")}));
  return E::call(value_rule_);
}

Result<GrammarExpr> JsonSchemaCompiler::value(const nlohmann::ordered_json& schema) {
  const json* saved = root_;
  root_ = &schema;
  Result<GrammarExpr> e = compile(schema, "#", 0);
  root_ = saved;
  return e;
}

Result<GrammarExpr> JsonSchemaCompiler::compile(const json& s, const std::string& path, int depth) {
  if (depth > options_.max_schema_depth) {
    return unsupported("the JSON Schema nests deeper than " + std::to_string(options_.max_schema_depth) +
                       " levels at " + path + "; flatten it");
  }
  if (s.is_boolean()) {
    if (s.get<bool>()) return any_value();
    return bad_schema(path, "is 'false', which no value satisfies");
  }
  if (!s.is_object()) return bad_schema(path, "must be an object or a boolean");
  for (const auto& [key, value] : s.items()) {
    if (refused_keywords().contains(key)) return unsupported_keyword(key, path);
    if (key == "uniqueItems" && value != false) return unsupported_keyword(key, path);
  }
  if (auto ref = s.find("$ref"); ref != s.end()) {
    if (!ref->is_string()) return bad_schema(path, "has a '$ref' that is not a string");
    TG_RETURN_IF_ERROR(only_annotations_beside(s, "$ref", path));
    return compile_ref(ref->get<std::string>(), path, depth);
  }
  for (const char* union_keyword : {"anyOf", "oneOf", "allOf"}) {
    auto it = s.find(union_keyword);
    if (it == s.end()) continue;
    const std::string here = path + "/" + union_keyword;
    if (!it->is_array() || it->empty()) return bad_schema(path, "has a '" + std::string(union_keyword) + "' that is not a non-empty list");
    if (std::string_view(union_keyword) == "allOf" && it->size() > 1) {
      return unsupported_keyword("allOf", path, "only a single schema is supported");
    }
    TG_RETURN_IF_ERROR(only_annotations_beside(s, union_keyword, path));
    std::vector<E> branches;
    for (size_t i = 0; i < it->size(); ++i) {
      TG_ASSIGN_OR_RETURN(E branch, compile((*it)[i], here + "/" + std::to_string(i), depth + 1));
      branches.push_back(std::move(branch));
    }
    if (s.value("nullable", false)) branches.push_back(E::literal("null"));
    return E::alt(std::move(branches));
  }
  TG_ASSIGN_OR_RETURN(E typed, compile_typed(s, path, depth));
  if (s.value("nullable", false)) return E::alt({std::move(typed), E::literal("null")});
  return typed;
}

Result<GrammarExpr> JsonSchemaCompiler::compile_typed(const json& s, const std::string& path, int depth) {
  if (auto c = s.find("const"); c != s.end()) return E::literal(dump(*c));
  if (s.contains("enum")) return compile_enum(s, path);
  TG_ASSIGN_OR_RETURN(std::vector<std::string> types, schema_types(s, path));
  if (types.empty()) {
    std::string inferred = inferred_type(s);
    if (inferred.empty()) return any_value();
    types.push_back(std::move(inferred));
  }
  std::vector<E> branches;
  for (const std::string& t : types) {
    TG_ASSIGN_OR_RETURN(E branch, compile_type(t, s, path, depth));
    branches.push_back(std::move(branch));
  }
  return E::alt(std::move(branches));
}

Result<GrammarExpr> JsonSchemaCompiler::compile_type(const std::string& type, const json& s, const std::string& path,
                                                     int depth) {
  if (type == "string") return compile_string(s, path);
  if (type == "number" || type == "integer") return compile_number(s, path, type == "integer");
  if (type == "boolean") return E::alt({E::literal("true"), E::literal("false")});
  if (type == "null") return E::literal("null");
  if (type == "object" || type == "array") return as_rule(type + " at " + path, s, path, depth);
  return bad_schema(path, "has an unknown type '" + type + "'");
}

Result<GrammarExpr> JsonSchemaCompiler::as_rule(const std::string& name, const json& s, const std::string& path,
                                                int depth) {
  const int rule = b_.declare(name);
  Result<E> body = name.starts_with("object") ? compile_object(s, path, depth) : compile_array(s, path, depth);
  if (!body.is_ok()) return body.status();
  b_.define(rule, std::move(body).value());
  return E::call(rule);
}

Result<GrammarExpr> JsonSchemaCompiler::compile_ref(const std::string& ref, const std::string& path, int depth) {
  if (ref.empty() || ref[0] != '#') {
    return unsupported_keyword("$ref", path, "only references inside the schema ('#', '#/$defs/...') are supported");
  }
  const std::string key = std::to_string(reinterpret_cast<uintptr_t>(root_)) + ref;
  if (auto it = rules_.find(key); it != rules_.end()) return E::call(it->second);
  const json* target = root_;
  std::string_view pointer = std::string_view(ref).substr(1);
  while (!pointer.empty()) {
    if (pointer[0] != '/') return bad_schema(path, "has a '$ref' that is not a JSON pointer: '" + ref + "'");
    pointer.remove_prefix(1);
    const size_t slash = pointer.find('/');
    std::string token(pointer.substr(0, slash));
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
    for (size_t at; (at = token.find("~1")) != std::string::npos;) token.replace(at, 2, "/");
    for (size_t at; (at = token.find("~0")) != std::string::npos;) token.replace(at, 2, "~");
    if (!target->is_object() || !target->contains(token)) return bad_schema(path, "refers to '" + ref + "', which does not exist");
    target = &(*target)[token];
  }
  const int rule = b_.declare("$ref " + ref);
  rules_.emplace(key, rule);
  TG_ASSIGN_OR_RETURN(E body, compile(*target, ref, depth + 1));
  b_.define(rule, std::move(body));
  return E::call(rule);
}

Result<GrammarExpr> JsonSchemaCompiler::compile_enum(const json& s, const std::string& path) {
  const json& values = s.at("enum");
  if (!values.is_array() || values.empty()) return bad_schema(path, "has an 'enum' that is not a non-empty list");
  TG_ASSIGN_OR_RETURN(std::vector<std::string> types, schema_types(s, path));
  std::vector<E> branches;
  for (const json& v : values) {
    bool typed = types.empty();
    for (const std::string& t : types) typed = typed || matches_type(v, t);
    if (typed) branches.push_back(E::literal(dump(v)));
  }
  if (branches.empty()) return bad_schema(path, "has no 'enum' value of its 'type'");
  return E::alt(std::move(branches));
}

GrammarExpr JsonSchemaCompiler::members(const std::vector<std::pair<std::string, GrammarExpr>>& props,
                                        const std::vector<bool>& required) {
  // Properties come in order. Before the first one written, each may be left out (if
  // optional) or come first; after it, each later one is a comma and a member, or left out.
  const size_t n = props.size();
  auto member = [&](size_t i) {
    return E::seq({E::literal(dump(json(props[i].first))), whitespace(), E::literal(":"), whitespace(), props[i].second,
                   whitespace()});
  };
  auto later = [&](size_t i) {
    E next = E::seq({E::literal(","), whitespace(), member(i)});
    return required[i] ? std::move(next) : E::optional(std::move(next));
  };
  const size_t first_required = std::find(required.begin(), required.end(), true) - required.begin();
  // after(i): properties i.. once something is written. Each of the optional properties before
  // the first required one may be where writing starts, and continues with its own after();
  // inline, those copies grow with the square of their number, so past a few they become
  // rules that end in a call of the next (a tail call: the stack does not grow).
  std::vector<E> tail(n + 1, E::empty());
  for (size_t i = n; i-- > first_required;) tail[i] = E::seq({later(i), tail[i + 1]});
  constexpr size_t kInlineStarts = 4;
  std::vector<E> after(first_required + 1, E::empty());
  after[first_required] = tail[first_required];
  for (size_t i = first_required; i-- > 1;) {
    if (first_required <= kInlineStarts) {
      after[i] = E::seq({later(i), after[i + 1]});
    } else {
      const int rule = b_.add("properties after " + props[i - 1].first, E::seq({later(i), after[i + 1]}));
      after[i] = E::call(rule);
    }
  }
  std::vector<E> starts;
  for (size_t i = 0; i < first_required && i < n; ++i) starts.push_back(E::seq({member(i), after[i + 1]}));
  if (first_required < n) {
    starts.push_back(E::seq({member(first_required), tail[first_required + 1]}));
  } else {
    starts.push_back(E::empty());  // every property optional: none at all
  }
  return E::alt(std::move(starts));
}

Result<GrammarExpr> JsonSchemaCompiler::compile_object(const json& s, const std::string& path, int depth) {
  const json empty = json::object();
  const json& props = s.contains("properties") ? s.at("properties") : empty;
  if (!props.is_object()) return bad_schema(path, "has 'properties' that is not an object");
  std::vector<std::string> required;
  if (auto r = s.find("required"); r != s.end()) {
    if (!r->is_array()) return bad_schema(path, "has 'required' that is not a list");
    for (const json& name : *r) {
      if (!name.is_string()) return bad_schema(path, "has a 'required' entry that is not a string");
      if (std::find(required.begin(), required.end(), name.get<std::string>()) == required.end()) {
        required.push_back(name.get<std::string>());
      }
    }
  }
  const json additional = s.contains("additionalProperties") ? s.at("additionalProperties") : json(true);
  if (!additional.is_boolean() && !additional.is_object()) {
    return bad_schema(path, "has 'additionalProperties' that is neither a boolean nor a schema");
  }
  std::optional<E> extra;  // the value of a property the schema does not declare
  auto extra_value = [&]() -> Result<E> {
    if (!extra) {
      if (additional.is_object()) {
        TG_ASSIGN_OR_RETURN(E v, compile(additional, path + "/additionalProperties", depth + 1));
        extra = std::move(v);
      } else {
        extra = any_value();
      }
    }
    return *extra;
  };
  if (props.empty() && required.empty()) {
    if (additional == false) return E::seq({E::literal("{"), whitespace(), E::literal("}")});
    TG_ASSIGN_OR_RETURN(E v, extra_value());
    const E key = E::call(shared_rule("string", quoted(E::star(string_char()))));
    E member = E::seq({key, whitespace(), E::literal(":"), whitespace(), v, whitespace()});
    E more = E::star(E::seq({E::literal(","), whitespace(), member}));
    return E::seq({E::literal("{"), whitespace(), E::optional(E::seq({member, more})), E::literal("}")});
  }
  std::vector<std::pair<std::string, E>> list;
  std::vector<bool> flags;
  for (const auto& [name, sub] : props.items()) {
    TG_ASSIGN_OR_RETURN(E v, compile(sub, path + "/properties/" + name, depth + 1));
    list.emplace_back(name, std::move(v));
    flags.push_back(std::find(required.begin(), required.end(), name) != required.end());
  }
  for (const std::string& name : required) {
    if (props.contains(name)) continue;
    if (additional == false) {
      return bad_schema(path, "requires property '" + name + "', which 'properties' lacks and 'additionalProperties' forbids");
    }
    TG_ASSIGN_OR_RETURN(E v, extra_value());
    list.emplace_back(name, std::move(v));
    flags.push_back(true);
  }
  return E::seq({E::literal("{"), whitespace(), members(list, flags), E::literal("}")});
}

Result<GrammarExpr> JsonSchemaCompiler::compile_array(const json& s, const std::string& path, int depth) {
  TG_ASSIGN_OR_RETURN(std::optional<int64_t> min_items, count_keyword(s, "minItems", path, options_.max_items));
  TG_ASSIGN_OR_RETURN(std::optional<int64_t> max_items, count_keyword(s, "maxItems", path, options_.max_items));
  const int min = static_cast<int>(min_items.value_or(0));
  int max = max_items ? static_cast<int>(*max_items) : -1;
  if (max >= 0 && max < min) return bad_schema(path, "has maxItems below minItems");
  const E open = E::seq({E::literal("["), whitespace()});
  if (auto prefix = s.find("prefixItems"); prefix != s.end()) {
    if (!prefix->is_array()) return bad_schema(path, "has 'prefixItems' that is not a list");
    const int k = static_cast<int>(prefix->size());
    if (k < min || (max >= 0 && k > max)) return unsupported_keyword("prefixItems", path, "with minItems/maxItems that exclude exactly its items");
    std::vector<E> parts = {open};
    for (int i = 0; i < k; ++i) {
      TG_ASSIGN_OR_RETURN(E item, compile((*prefix)[i], path + "/prefixItems/" + std::to_string(i), depth + 1));
      if (i > 0) parts.push_back(E::seq({E::literal(","), whitespace()}));
      parts.push_back(std::move(item));
      parts.push_back(whitespace());
    }
    parts.push_back(E::literal("]"));
    return E::seq(std::move(parts));
  }
  E item = E::empty();
  auto items = s.find("items");
  if (items == s.end() || *items == true) {
    item = any_value();
  } else if (*items == false) {
    max = 0;
  } else if (items->is_object()) {
    TG_ASSIGN_OR_RETURN(item, compile(*items, path + "/items", depth + 1));
  } else {
    return unsupported_keyword("items", path, "a list of schemas; write it as prefixItems");
  }
  if (max == 0) {
    if (min > 0) return bad_schema(path, "requires items that 'items: false' forbids");
    return E::seq({open, E::literal("]")});
  }
  E element = E::seq({item, whitespace()});
  E more = E::repeat(E::seq({E::literal(","), whitespace(), element}), std::max(min - 1, 0), max < 0 ? -1 : max - 1);
  E body = E::seq({element, std::move(more)});
  return E::seq({open, min == 0 ? E::optional(std::move(body)) : std::move(body), E::literal("]")});
}

Result<GrammarExpr> JsonSchemaCompiler::compile_string(const json& s, const std::string& path) {
  TG_ASSIGN_OR_RETURN(std::optional<int64_t> min_len, count_keyword(s, "minLength", path, options_.max_length));
  TG_ASSIGN_OR_RETURN(std::optional<int64_t> max_len, count_keyword(s, "maxLength", path, options_.max_length));
  const bool lengths = min_len || max_len;
  const auto pattern = s.find("pattern");
  const auto format = s.find("format");
  if ((lengths ? 1 : 0) + (pattern != s.end() ? 1 : 0) + (format != s.end() ? 1 : 0) > 1) {
    return unsupported_keyword(pattern != s.end() ? "pattern" : "format", path,
                               "only one of pattern, format and minLength/maxLength per string");
  }
  json key = json::object();
  E content = E::star(string_char());
  if (lengths) {
    const int lo = static_cast<int>(min_len.value_or(0));
    const int hi = max_len ? static_cast<int>(*max_len) : -1;
    if (hi >= 0 && hi < lo) return bad_schema(path, "has maxLength below minLength");
    content = E::repeat(string_char(), lo, hi);
    key = {{"minLength", lo}, {"maxLength", hi}};
  } else if (pattern != s.end()) {
    if (!pattern->is_string()) return bad_schema(path, "has a 'pattern' that is not a string");
    Result<E> re = regex_expr(pattern->get<std::string>(), {.json_string_content = true, .search = true});
    if (!re.is_ok()) return Status(re.status().code(), "'pattern' at " + path + ": " + re.status().message());
    content = std::move(re).value();
    key = {{"pattern", *pattern}};
  } else if (format != s.end()) {
    const char* re = format->is_string() ? format_regex(format->get<std::string>()) : nullptr;
    if (re == nullptr) {
      return unsupported_keyword("format", path, "supported formats: date, time, date-time, uuid, email, ipv4");
    }
    content = std::move(regex_expr(re, {.json_string_content = true})).value();
    key = {{"format", *format}};
  }
  return E::call(shared_rule("string" + (key.empty() ? "" : " " + dump(key)), quoted(std::move(content))));
}

Result<GrammarExpr> JsonSchemaCompiler::compile_number(const json& s, const std::string& path, bool integer) {
  std::optional<double> lo, hi;
  bool lo_open = false, hi_open = false;
  for (const char* key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    auto it = s.find(key);
    if (it == s.end()) continue;
    const std::string k = key;
    const bool is_min = k.find("inimum") != std::string::npos;
    if (it->is_boolean()) {  // draft 4: a flag on minimum/maximum
      (is_min ? lo_open : hi_open) = it->get<bool>();
      continue;
    }
    if (!it->is_number()) return bad_schema(path, "has '" + k + "' that is not a number");
    const double v = it->get<double>();
    if (!std::isfinite(v) || std::fabs(v) > static_cast<double>(kMaxMagnitude)) {
      return unsupported_keyword(k, path, "bounds beyond 16 digits");
    }
    const bool exclusive = k.starts_with("exclusive");
    std::optional<double>& bound = is_min ? lo : hi;
    bool& open = is_min ? lo_open : hi_open;
    if (!bound || (is_min ? v > *bound : v < *bound) || (v == *bound && exclusive)) {
      bound = v;
      open = exclusive;
    }
  }
  if (!lo && !hi) {
    return E::call(integer ? shared_rule("integer", integer_expr()) : shared_rule("number", number_expr()));
  }
  int64_t a = -kMaxMagnitude, b = kMaxMagnitude;
  if (integer) {
    if (lo) a = static_cast<int64_t>(lo_open ? std::floor(*lo) + 1 : std::ceil(*lo));
    if (hi) b = static_cast<int64_t>(hi_open ? std::ceil(*hi) - 1 : std::floor(*hi));
  } else {
    if (lo_open || hi_open) return unsupported_keyword(lo_open ? "exclusiveMinimum" : "exclusiveMaximum", path, "for type number");
    if (lo && std::floor(*lo) != *lo) return unsupported_keyword("minimum", path, "a non-integer bound for type number");
    if (hi && std::floor(*hi) != *hi) return unsupported_keyword("maximum", path, "a non-integer bound for type number");
    if (lo) a = static_cast<int64_t>(*lo);
    if (hi) b = static_cast<int64_t>(*hi);
  }
  if (a > b) return bad_schema(path, "has bounds that no value satisfies");
  const std::string name = std::string(integer ? "integer " : "number ") + std::to_string(a) + ".." + std::to_string(b);
  return E::call(shared_rule(name, integer ? integer_range(a, b) : number_range(a, b)));
}

Result<std::shared_ptr<const Grammar>> json_schema_grammar(const nlohmann::ordered_json& schema,
                                                           const JsonGrammarOptions& options) {
  GrammarBuilder b;
  JsonSchemaCompiler compiler(b, options);
  const int root = b.declare("root");
  TG_ASSIGN_OR_RETURN(E value, compiler.value(schema));
  b.define(root, E::seq({compiler.whitespace(), std::move(value)}));
  return b.build(root, options.limits);
}

Result<std::shared_ptr<const Grammar>> json_schema_grammar_from_text(std::string_view schema_text, const JsonGrammarOptions& options) {
  json schema = json::parse(schema_text.begin(), schema_text.end(), nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return invalid_argument("the JSON Schema is not valid JSON");
  return json_schema_grammar(schema, options);
}

std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options) {
  GrammarBuilder b;
  JsonSchemaCompiler compiler(b, options);
  const int root = b.declare("root");
  E object = compiler.any_object();
  b.define(root, E::seq({compiler.whitespace(), std::move(object)}));
  return std::move(b.build(root, options.limits)).value();
}

Result<std::shared_ptr<const Grammar>> regex_grammar(std::string_view pattern, GrammarLimits limits) {
  TG_ASSIGN_OR_RETURN(E body, regex_expr(pattern));
  GrammarBuilder b;
  const int root = b.add("regex", std::move(body));
  return b.build(root, limits);
}

}  // namespace tokengrid::engine
