#include "serve/tool_calls.h"

#include <cctype>
#include <functional>

#include <nlohmann/json.hpp>

#include "engine/json_schema.h"

namespace tokengrid::serve {

using engine::GrammarExpr;
using http::ChatMessage;
using http::Tool;
using http::ToolCall;
using http::ToolChoice;
using ordered_json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string tool_json(const Tool& t) {
  ordered_json fn = {{"name", t.name}};
  if (!t.description.empty()) fn["description"] = t.description;
  ordered_json params = t.parameters.empty() ? ordered_json::object() : ordered_json::parse(t.parameters, nullptr, false);
  fn["parameters"] = params.is_discarded() ? ordered_json::object() : params;
  return ordered_json{{"type", "function"}, {"function", fn}}.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

const char* arguments_key(ToolCallSyntax syntax) { return syntax == ToolCallSyntax::kHermes ? "arguments" : "parameters"; }

// The head of a call up to where its arguments start, as the grammar writes it.
std::string call_head(ToolCallSyntax syntax, const std::string& name) {
  return std::string(syntax == ToolCallSyntax::kHermes ? "<tool_call>\n" : "") + "{\"name\": " + quoted(name) + ", \"" +
         arguments_key(syntax) + "\": ";
}
std::string call_tail(ToolCallSyntax syntax) { return syntax == ToolCallSyntax::kHermes ? "}\n</tool_call>" : "}"; }
std::string call_separator(ToolCallSyntax syntax) { return syntax == ToolCallSyntax::kHermes ? "\n" : "; "; }

std::string call_text(ToolCallSyntax syntax, const ToolCall& c) {
  return call_head(syntax, c.name) + (c.arguments.empty() ? "{}" : c.arguments) + call_tail(syntax);
}

std::string hermes_tools_text(const std::vector<Tool>& tools) {
  std::string text =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function "
      "signatures within <tools></tools> XML tags:\n<tools>";
  for (const Tool& t : tools) text += "\n" + tool_json(t);
  text +=
      "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
      "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
      "</tool_call>";
  return text;
}

std::string llama3_tools_text(const std::vector<Tool>& tools) {
  std::string text =
      "Given the following functions, please respond with a JSON for a function call with its proper arguments that "
      "best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of "
      "argument name and its value}. Do not use variables.\n\n";
  for (const Tool& t : tools) text += tool_json(t) + "\n\n";
  return text;
}

std::string joined_calls(ToolCallSyntax syntax, const std::vector<ToolCall>& calls) {
  std::string text;
  for (const ToolCall& c : calls) text += (text.empty() ? "" : call_separator(syntax)) + call_text(syntax, c);
  return text;
}

std::vector<ChatMessage> lower_hermes(const std::vector<ChatMessage>& messages, const std::vector<Tool>& tools,
                                      bool offer_tools) {
  std::vector<ChatMessage> out;
  const std::string preamble = offer_tools && !tools.empty() ? hermes_tools_text(tools) : "";
  bool placed = preamble.empty();
  bool last_is_responses = false;  // the last message out holds tool responses
  for (const ChatMessage& m : messages) {
    ChatMessage lowered{m.role, m.content, {}, {}};
    if (m.role == "system" && !placed) {
      lowered.content += (lowered.content.empty() ? "" : "\n\n") + preamble;
      placed = true;
    } else if (m.role == "assistant" && !m.tool_calls.empty()) {
      lowered.content += (lowered.content.empty() ? "" : "\n") + joined_calls(ToolCallSyntax::kHermes, m.tool_calls);
    } else if (m.role == "tool") {
      const std::string response = "<tool_response>\n" + m.content + "\n</tool_response>";
      if (last_is_responses) {
        out.back().content += "\n" + response;
        continue;
      }
      lowered = {"user", response, {}, {}};
      out.push_back(std::move(lowered));
      last_is_responses = true;
      continue;
    }
    last_is_responses = false;
    out.push_back(std::move(lowered));
  }
  if (!placed) out.insert(out.begin(), ChatMessage{"system", preamble, {}, {}});
  return out;
}

std::vector<ChatMessage> lower_llama3(const std::vector<ChatMessage>& messages, const std::vector<Tool>& tools,
                                      bool offer_tools) {
  std::vector<ChatMessage> out;
  const std::string preamble = offer_tools && !tools.empty() ? llama3_tools_text(tools) : "";
  bool placed = preamble.empty();
  for (const ChatMessage& m : messages) {
    ChatMessage lowered{m.role, m.content, {}, {}};
    if (m.role == "user" && !placed) {
      lowered.content = preamble + lowered.content;
      placed = true;
    } else if (m.role == "assistant" && !m.tool_calls.empty()) {
      lowered.content = joined_calls(ToolCallSyntax::kLlama3, m.tool_calls);
    } else if (m.role == "tool") {
      lowered.role = "ipython";
    }
    out.push_back(std::move(lowered));
  }
  if (!placed) out.push_back(ChatMessage{"user", preamble, {}, {}});
  return out;
}

// The expression for calls of the tools in scope, in `syntax`.
http::ApiResult<GrammarExpr> calls_expr(ToolCallSyntax syntax, const http::ChatRequest& request,
                                        engine::JsonSchemaCompiler& compiler) {
  std::vector<GrammarExpr> calls;
  for (size_t i = 0; i < request.tools.size(); ++i) {
    const Tool& t = request.tools[i];
    if (request.tool_choice.mode == ToolChoice::Mode::kFunction && t.name != request.tool_choice.name) continue;
    const std::string param = "tools[" + std::to_string(i) + "].function.parameters";
    GrammarExpr args = GrammarExpr::seq({GrammarExpr::literal("{"), compiler.whitespace(), GrammarExpr::literal("}")});
    if (!t.parameters.empty()) {
      auto schema = ordered_json::parse(t.parameters, nullptr, false);
      auto value = compiler.value(schema);
      if (!value.is_ok()) return grammar_error(value.status(), param);
      args = std::move(value).value();
    }
    calls.push_back(GrammarExpr::seq({GrammarExpr::literal(call_head(syntax, t.name)), std::move(args),
                                      GrammarExpr::literal(call_tail(syntax))}));
  }
  GrammarExpr one = GrammarExpr::alt(std::move(calls));
  if (request.tool_choice.mode == ToolChoice::Mode::kFunction || !request.parallel_tool_calls) return one;
  GrammarExpr more = GrammarExpr::star(GrammarExpr::seq({GrammarExpr::literal(call_separator(syntax)), one}));
  return GrammarExpr::seq({std::move(one), std::move(more)});
}

std::string tools_key(ToolCallSyntax syntax, const http::ChatRequest& request) {
  std::string key = syntax == ToolCallSyntax::kHermes ? "tools hermes" : "tools llama3";
  key += " mode " + std::to_string(static_cast<int>(request.tool_choice.mode)) + " " + request.tool_choice.name;
  key += request.parallel_tool_calls ? " parallel" : " single";
  for (const Tool& t : request.tools) key += "\n" + t.name + " " + t.parameters;
  if (request.tool_choice.mode == ToolChoice::Mode::kAuto) key += "\nformat " + response_format_key(request.options.response_format);
  return key;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

enum class Match { kNeedMore, kNo, kYes };

// `{"name": "<name>", "arguments" or "parameters": ` at the start of text, with any spacing;
// on kYes, `consumed` is where the arguments' value starts.
Match match_header(std::string_view text, std::string& name, size_t& consumed) {
  size_t i = 0;
  auto ws = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  auto lit = [&](std::string_view l) {
    const size_t n = std::min(l.size(), text.size() - i);
    if (text.substr(i, n) != l.substr(0, n)) return Match::kNo;
    i += n;
    return n < l.size() ? Match::kNeedMore : Match::kYes;
  };
  auto string = [&](std::string& out) {
    Match m = lit("\"");
    if (m != Match::kYes) return m;
    const size_t close = text.find('"', i);
    const std::string_view body = text.substr(i, close == std::string_view::npos ? text.npos : close - i);
    if (body.find('\\') != std::string_view::npos) return Match::kNo;  // escapes: parsed whole instead
    if (close == std::string_view::npos) return Match::kNeedMore;
    out = std::string(body);
    i = close + 1;
    return Match::kYes;
  };
  std::string key;
  const std::vector<std::function<Match()>> parts = {
      [&] { return lit("{"); },
      [&] { return string(key); },
      [&] { return key == "name" ? lit(":") : Match::kNo; },
      [&] { return string(name); },
      [&] { return lit(","); },
      [&] { return string(key); },
      [&] { return key == "arguments" || key == "parameters" ? lit(":") : Match::kNo; },
  };
  for (const auto& part : parts) {
    ws();
    Match m = part();
    if (m != Match::kYes) return m;
  }
  ws();
  if (i == text.size()) return Match::kNeedMore;
  consumed = i;
  return Match::kYes;
}

}  // namespace

ToolCallSyntax tool_call_syntax(ChatTemplateFamily family) {
  return family == ChatTemplateFamily::kLlama3 ? ToolCallSyntax::kLlama3 : ToolCallSyntax::kHermes;
}

std::vector<ChatMessage> lower_tool_messages(ToolCallSyntax syntax, const std::vector<ChatMessage>& messages,
                                             const std::vector<Tool>& tools, bool offer_tools) {
  return syntax == ToolCallSyntax::kHermes ? lower_hermes(messages, tools, offer_tools)
                                           : lower_llama3(messages, tools, offer_tools);
}

GrammarResult tool_output_grammar(ToolCallSyntax syntax, const http::ChatRequest& request, GrammarCache& cache) {
  const ToolChoice::Mode mode = request.tool_choice.mode;
  const bool forced = mode == ToolChoice::Mode::kRequired || mode == ToolChoice::Mode::kFunction;
  const bool formatted = request.options.response_format.kind != http::ResponseFormat::Kind::kText;
  if (request.tools.empty() || !(forced || (mode == ToolChoice::Mode::kAuto && formatted))) {
    return std::shared_ptr<const engine::Grammar>();
  }
  return cache.get(tools_key(syntax, request), [&]() -> GrammarResult {
    engine::GrammarBuilder builder;
    engine::JsonSchemaCompiler compiler(builder);
    const int root = builder.declare("output");
    auto calls = calls_expr(syntax, request, compiler);
    if (!calls.is_ok()) return calls.error();
    GrammarExpr body = std::move(calls).value();
    if (!forced) {
      auto format = response_format_expr(request.options.response_format, compiler);
      if (!format.is_ok()) return format.error();
      body = GrammarExpr::alt({std::move(format).value(), std::move(body)});
    }
    builder.define(root, std::move(body));
    auto grammar = builder.build(root);
    if (!grammar.is_ok()) return grammar_error(grammar.status(), "tools");
    return std::move(grammar).value();
  });
}

// ---- parsing the output ----------------------------------------------------------------------

void ToolCallParser::content(std::string text, std::vector<Event>& out) {
  if (text.empty()) return;
  content_ += text;
  out.push_back({Event::Kind::kContent, 0, std::move(text)});
}

void ToolCallParser::start_call(std::string name, std::vector<Event>& out) {
  calls_.push_back({http::new_tool_call_id(), std::move(name), ""});
  out.push_back({Event::Kind::kCallStart, static_cast<int>(calls_.size()) - 1, ""});
  depth_ = 0;
  started_ = in_string_ = escaped_ = scalar_ = false;
}

void ToolCallParser::arguments(std::string text, std::vector<Event>& out) {
  if (text.empty()) return;
  calls_.back().arguments += text;
  out.push_back({Event::Kind::kArguments, static_cast<int>(calls_.size()) - 1, std::move(text)});
}

std::vector<ToolCallParser::Event> ToolCallParser::push(std::string_view text) {
  buffer_ += text;
  std::vector<Event> out;
  while (!buffer_.empty() && step(out)) {
  }
  return out;
}

bool ToolCallParser::step(std::vector<Event>& out) {
  switch (state_) {
    case State::kStart: {
      const size_t first = buffer_.find_first_not_of(" \n\r\t");
      if (first == std::string::npos) return false;
      if (syntax_ == ToolCallSyntax::kHermes) {
        state_ = State::kText;
      } else {
        state_ = buffer_[first] == '{' ? State::kHeader : State::kFreeText;
      }
      return true;
    }
    case State::kText: return step_text(out);
    case State::kHeader: return step_header(out);
    case State::kArguments: return step_arguments(out);
    case State::kClose: return step_close();
    case State::kWhole: return step_whole(out, /*at_end=*/false);
    case State::kFreeText:
      content(std::move(buffer_), out);
      buffer_.clear();
      return false;
  }
  return false;
}

bool ToolCallParser::step_text(std::vector<Event>& out) {
  if (!calls_.empty()) {  // spacing between and after calls is not content
    const size_t first = buffer_.find_first_not_of(" \n\r\t");
    buffer_.erase(0, first == std::string::npos ? buffer_.size() : first);
    if (buffer_.empty()) return false;
  }
  const size_t open = buffer_.find(kOpen);
  if (open != std::string::npos) {
    content(buffer_.substr(0, open), out);
    buffer_.erase(0, open + kOpen.size());
    state_ = State::kHeader;
    return true;
  }
  // Hold back an end that could be the start of the marker.
  size_t keep = std::min(buffer_.size(), kOpen.size() - 1);
  while (keep > 0 && buffer_.compare(buffer_.size() - keep, keep, kOpen, 0, keep) != 0) --keep;
  content(buffer_.substr(0, buffer_.size() - keep), out);
  buffer_.erase(0, buffer_.size() - keep);
  return false;
}

bool ToolCallParser::step_header(std::vector<Event>& out) {
  std::string name;
  size_t consumed = 0;
  switch (match_header(buffer_, name, consumed)) {
    case Match::kNeedMore: return false;
    case Match::kNo: state_ = State::kWhole; return true;
    case Match::kYes: break;
  }
  start_call(std::move(name), out);
  buffer_.erase(0, consumed);
  state_ = State::kArguments;
  return true;
}

bool ToolCallParser::step_arguments(std::vector<Event>& out) {
  size_t i = 0, end = std::string::npos;
  for (; i < buffer_.size() && end == std::string::npos; ++i) {
    const char c = buffer_[i];
    if (!started_) {
      started_ = true;
      if (c == '{' || c == '[') depth_ = 1;
      else if (c == '"') in_string_ = true;
      else scalar_ = true;
      continue;
    }
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') {
        in_string_ = false;
        if (depth_ == 0) end = i + 1;
      }
    } else if (scalar_) {
      if (is_space(c) || c == ',' || c == '}' || c == ']') end = i;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if ((c == '}' || c == ']') && --depth_ == 0) {
      end = i + 1;
    }
  }
  const size_t taken = end == std::string::npos ? buffer_.size() : end;
  arguments(buffer_.substr(0, taken), out);
  buffer_.erase(0, taken);
  if (end == std::string::npos) return false;
  state_ = State::kClose;
  return true;
}

bool ToolCallParser::step_close() {
  const size_t brace = buffer_.find_first_not_of(" \n\r\t");
  if (brace == std::string::npos) return false;
  if (buffer_[brace] != '}') {  // not the call's layout after all: what follows is text
    state_ = syntax_ == ToolCallSyntax::kHermes ? State::kText : State::kFreeText;
    return true;
  }
  if (syntax_ == ToolCallSyntax::kLlama3) {
    const size_t next = buffer_.find_first_not_of(" \n\r\t", brace + 1);
    if (next == std::string::npos) {
      buffer_.erase(0, brace + 1);
      return false;
    }
    const bool another = buffer_[next] == ';';
    buffer_.erase(0, another ? next + 1 : next);
    state_ = another ? State::kHeader : State::kFreeText;
    return true;
  }
  const size_t marker = buffer_.find_first_not_of(" \n\r\t", brace + 1);
  if (marker == std::string::npos) return false;
  const size_t n = std::min(kClose.size(), buffer_.size() - marker);
  if (buffer_.compare(marker, n, kClose, 0, n) != 0) {
    buffer_.erase(0, brace + 1);
    state_ = State::kText;
    return true;
  }
  if (n < kClose.size()) return false;
  buffer_.erase(0, marker + kClose.size());
  state_ = State::kText;
  return true;
}

// A call whose head is not in the grammar's layout, parsed whole once it ends (Hermes: at its
// closing marker; Llama 3: at the end of the output).
bool ToolCallParser::step_whole(std::vector<Event>& out, bool at_end) {
  size_t close = std::string::npos;
  if (syntax_ == ToolCallSyntax::kHermes) {
    close = buffer_.find(kClose);
    if (close == std::string::npos && !at_end) return false;
  } else if (!at_end) {
    return false;
  }
  const std::string block = buffer_.substr(0, close);
  buffer_.erase(0, close == std::string::npos ? buffer_.size() : close + kClose.size());
  state_ = syntax_ == ToolCallSyntax::kHermes ? State::kText : State::kFreeText;
  auto parsed = nlohmann::ordered_json::parse(block, nullptr, false);
  const bool call = parsed.is_object() && parsed.contains("name") && parsed["name"].is_string();
  if (!call) {
    content((syntax_ == ToolCallSyntax::kHermes ? std::string(kOpen) : "") + block +
                (close == std::string::npos || syntax_ != ToolCallSyntax::kHermes ? "" : std::string(kClose)),
            out);
    return true;
  }
  start_call(parsed["name"].get<std::string>(), out);
  const char* key = parsed.contains("arguments") ? "arguments" : "parameters";
  arguments(parsed.contains(key) ? parsed[key].dump() : "{}", out);
  return true;
}

std::vector<ToolCallParser::Event> ToolCallParser::finish() {
  std::vector<Event> out;
  while (!buffer_.empty() && step(out)) {
  }
  switch (state_) {
    case State::kStart:
    case State::kText:
    case State::kFreeText:
      if (calls_.empty() || buffer_.find_first_not_of(" \n\r\t") != std::string::npos) content(std::move(buffer_), out);
      break;
    case State::kHeader:  // the head of a call that never came: it was text
      content((syntax_ == ToolCallSyntax::kHermes ? std::string(kOpen) : "") + buffer_, out);
      break;
    case State::kArguments: arguments(std::move(buffer_), out); break;  // cut short, as generated
    case State::kWhole: step_whole(out, /*at_end=*/true); break;
    case State::kClose: break;
  }
  buffer_.clear();
  return out;
}

}  // namespace tokengrid::serve
