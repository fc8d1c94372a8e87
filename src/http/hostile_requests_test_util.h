// Hostile request bodies for the OpenAI routes, shared by the tests of `tokengrid serve` and of
// the gateway: malformed JSON, wrong types, huge numbers, NaN spelled out, invalid UTF-8 in keys
// and values, deep nesting, missing fields and empty bodies. Every one must be answered 400
// with OpenAI's error object; expect_openai_error() checks that shape.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tokengrid::http::testing {

struct HostileBody {
  std::string what;
  std::string body;
  std::string param;  // the field the error should name; "" when none
};

inline std::string deeply_nested(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

// Fields every route with a body shares, added to a `base` that is otherwise valid.
inline std::vector<HostileBody> hostile_options(const std::string& base) {
  auto with = [&base](const std::string& field) { return base.substr(0, base.size() - 1) + ", " + field + "}"; };
  return {
      {"max_tokens as a string", with(R"("max_tokens": "3")"), "max_tokens"},
      {"max_tokens 2^64", with(R"("max_tokens": 18446744073709551616)"), "max_tokens"},
      {"max_tokens 2^64 - 1", with(R"("max_tokens": 18446744073709551615)"), "max_tokens"},
      {"max_tokens -0", with(R"("max_tokens": -0)"), "max_tokens"},
      {"max_tokens 1e400", with(R"("max_tokens": 1e400)"), ""},
      {"n -0", with(R"("n": -0)"), "n"},
      {"n 1.5", with(R"("n": 1.5)"), "n"},
      {"temperature NaN", with(R"("temperature": NaN)"), ""},
      {"temperature Infinity", with(R"("temperature": Infinity)"), ""},
      {"temperature -Infinity", with(R"("temperature": -Infinity)"), ""},
      {"temperature 1e308", with(R"("temperature": 1e308)"), "temperature"},
      {"top_p as an object", with(R"("top_p": {})"), "top_p"},
      {"seed 2^64", with(R"("seed": 18446744073709551616)"), "seed"},
      {"stream as a string", with(R"("stream": "true")"), "stream"},
      {"stop of numbers", with(R"("stop": [1, 2])"), "stop"},
      {"five stops", with(R"("stop": ["a", "b", "c", "d", "e"])"), "stop"},
      {"logit_bias key not an id", with(R"("logit_bias": {"abc": 1})"), "logit_bias"},
      {"logit_bias 1e300", with(R"("logit_bias": {"5": 1e300})"), "logit_bias"},
      {"stream_options without stream", with(R"("stream_options": {"include_usage": true})"), "stream_options"},
      {"invalid UTF-8 in a key", with("\"\xc3\x28\": 1"), ""},
      {"a lone surrogate escape", with(R"("user": "\ud800")"), ""},
      {"deep nesting in an unknown field", with(R"("x": )" + deeply_nested(200000)), ""},
      {"65 levels", with(R"("x": )" + deeply_nested(64)), ""},
  };
}

// response_format and vLLM's guided_* fields, refused while the body is read, added to `base`.
inline std::vector<HostileBody> hostile_formats(const std::string& base) {
  auto with = [&base](const std::string& field) { return base.substr(0, base.size() - 1) + ", " + field + "}"; };
  return {
      {"response_format as a string", with(R"("response_format": "json")"), "response_format"},
      {"response_format without a type", with(R"("response_format": {})"), "response_format.type"},
      {"response_format of type 5", with(R"("response_format": {"type": 5})"), "response_format.type"},
      {"an unknown response_format type", with(R"("response_format": {"type": "yaml"})"), "response_format.type"},
      {"json_schema without json_schema", with(R"("response_format": {"type": "json_schema"})"),
       "response_format.json_schema"},
      {"a schema of a number", with(R"("response_format": {"type": "json_schema", "json_schema": {"schema": 5}})"),
       "response_format.json_schema.schema"},
      {"a schema name of a list",
       with(R"("response_format": {"type": "json_schema", "json_schema": {"name": [], "schema": {}}})"),
       "response_format.json_schema.name"},
      {"strict as a string",
       with(R"("response_format": {"type": "json_schema", "json_schema": {"strict": "yes", "schema": {}}})"),
       "response_format.json_schema.strict"},
      {"a regex of a number", with(R"("response_format": {"type": "regex", "regex": 5})"), "response_format.regex"},
      {"guided_json of broken text", with(R"("guided_json": "{\"type\": ")"), "guided_json"},
      {"guided_json of a number", with(R"("guided_json": 5)"), "guided_json"},
      {"guided_regex of a list", with(R"("guided_regex": ["a"])"), "guided_regex"},
      {"an empty guided_choice", with(R"("guided_choice": [])"), "guided_choice"},
      {"guided_choice of numbers", with(R"("guided_choice": [1, 2])"), "guided_choice"},
      {"two formats at once", with(R"("response_format": {"type": "json_object"}, "guided_regex": "a+")"),
       "guided_regex"},
      {"guided_grammar", with(R"("guided_grammar": "root ::= \"a\"")"), "guided_grammar"},
  };
}

// Chat tools and tool_choice, and the tool turns of a conversation, added to `base`.
inline std::vector<HostileBody> hostile_tools(const std::string& base) {
  auto with = [&base](const std::string& field) { return base.substr(0, base.size() - 1) + ", " + field + "}"; };
  const std::string f = R"({"type": "function", "function": {"name": "f"}})";
  std::string many;
  for (int i = 0; i < 129; ++i) {
    many += (i ? ", " : "") + std::string(R"({"type": "function", "function": {"name": "f)") + std::to_string(i) + "\"}}";
  }
  return {
      {"tools as an object", with(R"("tools": {})"), "tools"},
      {"a tool of a string", with(R"("tools": ["f"])"), "tools[0]"},
      {"a retrieval tool", with(R"("tools": [{"type": "retrieval"}])"), "tools[0].type"},
      {"a tool without a function", with(R"("tools": [{"type": "function"}])"), "tools[0].function"},
      {"a function name with a space", with(R"("tools": [{"type": "function", "function": {"name": "a b"}}])"),
       "tools[0].function.name"},
      {"a function name of 65 letters",
       with(R"("tools": [{"type": "function", "function": {"name": ")" + std::string(65, 'a') + "\"}}]"),
       "tools[0].function.name"},
      {"a function name of a number", with(R"("tools": [{"type": "function", "function": {"name": 5}}])"),
       "tools[0].function.name"},
      {"parameters of a string",
       with(R"("tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}])"),
       "tools[0].function.parameters"},
      {"strict of a number", with(R"("tools": [{"type": "function", "function": {"name": "f", "strict": 1}}])"),
       "tools[0].function.strict"},
      {"one function twice", with(R"("tools": [)" + f + ", " + f + "]"), "tools"},
      {"129 tools", with(R"("tools": [)" + many + "]"), "tools"},
      {"tool_choice without tools", with(R"("tool_choice": "required")"), "tool_choice"},
      {"an unknown tool_choice", with(R"("tools": [)" + f + R"(], "tool_choice": "always")"), "tool_choice"},
      {"tool_choice of a number", with(R"("tools": [)" + f + R"(], "tool_choice": 1)"), "tool_choice"},
      {"tool_choice of type 5", with(R"("tools": [)" + f + R"(], "tool_choice": {"type": 5})"), "tool_choice"},
      {"tool_choice naming no tool",
       with(R"("tools": [)" + f + R"(], "tool_choice": {"type": "function", "function": {"name": "g"}})"),
       "tool_choice"},
      {"parallel_tool_calls of a string", with(R"("tools": [)" + f + R"(], "parallel_tool_calls": "no")"),
       "parallel_tool_calls"},
      {"the deprecated functions", with(R"("functions": [{"name": "f"}])"), "functions"},
  };
}

// Bodies that are not a request at all.
inline std::vector<HostileBody> hostile_documents() {
  return {
      {"an empty body", "", ""},
      {"a truncated object", R"({"messages": [{"role": "us)", ""},
      {"an array", "[1, 2, 3]", ""},
      {"null", "null", ""},
      {"a string", R"("hello")", ""},
      {"a number", "42", ""},
      {"trailing garbage", R"({"prompt": "x"} {"prompt": "y"})", ""},
      {"a NUL byte", std::string("{\"prompt\": \"a\0b\"}", 17), ""},
      {"deep nesting alone", deeply_nested(500000), ""},
  };
}

inline std::vector<HostileBody> hostile_chat_bodies() {
  const std::string base = R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})";
  std::vector<HostileBody> out = hostile_documents();
  for (HostileBody& b : std::vector<HostileBody>{
           {"no messages", R"({"model": "tiny"})", "messages"},
           {"messages as a string", R"({"model": "tiny", "messages": "hi"})", "messages"},
           {"no message", R"({"model": "tiny", "messages": []})", "messages"},
           {"a message of a number", R"({"model": "tiny", "messages": [7]})", "messages[0]"},
           {"a role of a number", R"({"model": "tiny", "messages": [{"role": 1, "content": "x"}]})", "messages[0].role"},
           {"an unknown role", R"({"model": "tiny", "messages": [{"role": "root", "content": "x"}]})", "messages[0].role"},
           {"no content", R"({"model": "tiny", "messages": [{"role": "user"}]})", "messages[0].content"},
           {"an image part", R"({"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
            "messages[0].content"},
           {"invalid UTF-8 in content", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}",
            ""},
           {"model as a number", R"({"model": 5, "messages": [{"role": "user", "content": "hi"}]})", "model"},
           {"a tool message without its call id", R"({"messages": [{"role": "tool", "content": "20C"}]})",
            "messages[0].tool_call_id"},
           {"tool_calls of an object", R"({"messages": [{"role": "assistant", "tool_calls": {}}]})",
            "messages[0].tool_calls"},
           {"a tool call without a function", R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]})",
            "messages[0].tool_calls[0].function"},
           {"a tool call name of a number",
            R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 1}}]}]})",
            "messages[0].tool_calls[0].function.name"},
           {"the function role", R"({"messages": [{"role": "function", "content": "x"}]})", "messages[0].role"},
           {"echo in chat", R"({"messages": [{"role": "user", "content": "x"}], "echo": true})", "echo"},
       })
    out.push_back(std::move(b));
  for (HostileBody& b : hostile_options(base)) out.push_back(std::move(b));
  for (HostileBody& b : hostile_formats(base)) out.push_back(std::move(b));
  for (HostileBody& b : hostile_tools(base)) out.push_back(std::move(b));
  return out;
}

inline std::vector<HostileBody> hostile_completion_bodies() {
  const std::string base = R"({"model": "tiny", "prompt": "Once"})";
  std::vector<HostileBody> out = hostile_documents();
  for (HostileBody& b : std::vector<HostileBody>{
           {"no prompt", R"({"model": "tiny"})", "prompt"},
           {"prompt as an object", R"({"model": "tiny", "prompt": {}})", "prompt"},
           {"an empty prompt list", R"({"model": "tiny", "prompt": []})", "prompt"},
           {"a negative token id", R"({"model": "tiny", "prompt": [[-1]]})", "prompt"},
           {"a token id of 2^64", R"({"model": "tiny", "prompt": [18446744073709551616]})", "prompt"},
           {"a token id 2^31", R"({"model": "tiny", "prompt": [2147483648]})", "prompt"},
           {"mixed prompt list", R"({"model": "tiny", "prompt": ["a", 5]})", "prompt"},
           {"129 prompts", R"({"model": "tiny", "prompt": [)" + [] {
              std::string list;
              for (int i = 0; i < 129; ++i) list += (i ? ", " : "") + std::string("\"p\"");
              return list;
            }() + "]}",
            "prompt"},
           {"invalid UTF-8 in the prompt", "{\"model\": \"tiny\", \"prompt\": \"\xc0\xaf\"}", ""},
           {"suffix of a number", R"({"prompt": "def f(", "suffix": 5})", "suffix"},
           {"invalid UTF-8 in the suffix", "{\"prompt\": \"a\", \"suffix\": \"\xed\xa0\x80\"}", ""},
           {"echo with suffix", R"({"prompt": "a", "suffix": "b", "echo": true})", "echo"},
           {"echo with logprobs", R"({"prompt": "a", "echo": true, "logprobs": 1})", "echo"},
           {"echo of a string", R"({"prompt": "a", "echo": "yes"})", "echo"},
           {"best_of below n", R"({"prompt": "a", "n": 3, "best_of": 2})", "best_of"},
           {"best_of with a stream", R"({"prompt": "a", "best_of": 2, "stream": true})", "best_of"},
           {"best_of 2^64", R"({"prompt": "a", "best_of": 18446744073709551616})", "best_of"},
           {"best_of 21", R"({"prompt": "a", "best_of": 21})", "best_of"},
           {"best_of times prompts over 128", R"({"prompt": [)" + [] {
              std::string list;
              for (int i = 0; i < 7; ++i) list += (i ? ", " : "") + std::string("\"p\"");
              return list;
            }() + R"(], "best_of": 20})",
            "best_of"},
       })
    out.push_back(std::move(b));
  for (HostileBody& b : hostile_options(base)) out.push_back(std::move(b));
  for (HostileBody& b : hostile_formats(base)) out.push_back(std::move(b));
  return out;
}

inline std::vector<HostileBody> hostile_embedding_bodies() {
  std::vector<HostileBody> out = hostile_documents();
  std::string many;
  for (int i = 0; i < 2049; ++i) many += (i ? ", " : "") + std::string("\"e\"");
  for (HostileBody& b : std::vector<HostileBody>{
           {"no input", R"({"model": "tiny"})", "input"},
           {"input of an object", R"({"input": {}})", "input"},
           {"input of a number", R"({"input": 5})", "input"},
           {"an empty input list", R"({"input": []})", "input"},
           {"an empty string", R"({"input": ""})", "input"},
           {"an empty string in a list", R"({"input": ["a", ""]})", "input"},
           {"2049 inputs", R"({"input": [)" + many + "]}", "input"},
           {"a negative token id", R"({"input": [[1, -1]]})", "input"},
           {"a token id of 2^64", R"({"input": [18446744073709551616]})", "input"},
           {"an empty token id list", R"({"input": [[]]})", "input"},
           {"mixed input list", R"({"input": ["a", 5]})", "input"},
           {"invalid UTF-8 in the input", "{\"input\": \"\xf8\x88\x80\x80\x80\"}", ""},
           {"encoding_format of a number", R"({"input": "a", "encoding_format": 1})", "encoding_format"},
           {"an unknown encoding_format", R"({"input": "a", "encoding_format": "hex"})", "encoding_format"},
           {"dimensions 0", R"({"input": "a", "dimensions": 0})", "dimensions"},
           {"dimensions 2^64", R"({"input": "a", "dimensions": 18446744073709551616})", "dimensions"},
           {"dimensions 1.5", R"({"input": "a", "dimensions": 1.5})", "dimensions"},
           {"dimensions of a string", R"({"input": "a", "dimensions": "8"})", "dimensions"},
           {"model of a list", R"({"model": [], "input": "a"})", "model"},
           {"user of a number", R"({"input": "a", "user": 1})", "user"},
           {"deep nesting in an unknown field", R"({"input": "a", "x": )" + deeply_nested(200000) + "}", ""},
       })
    out.push_back(std::move(b));
  return out;
}

// Content types an OpenAI route refuses (with a body that is otherwise valid).
inline std::vector<std::string> wrong_content_types() {
  return {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
          "\xff\xfe"};
}

// The answer is `status` with exactly OpenAI's error object; `param` is checked when given.
inline void expect_openai_error(int got_status, const std::string& body, int status, const std::string& param = "",
                                const std::string& code = "") {
  EXPECT_EQ(got_status, status) << body;
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_object()) << body;
  const nlohmann::json& e = j["error"];
  EXPECT_EQ(e.size(), 4u) << body;
  ASSERT_TRUE(e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty()) << body;
  ASSERT_TRUE(e.contains("type") && e["type"].is_string()) << body;
  ASSERT_TRUE(e.contains("param") && (e["param"].is_null() || e["param"].is_string())) << body;
  ASSERT_TRUE(e.contains("code") && (e["code"].is_null() || e["code"].is_string())) << body;
  if (status == 400) EXPECT_EQ(e["type"], "invalid_request_error") << body;
  if (!param.empty()) EXPECT_EQ(e["param"], param) << body;
  if (!code.empty()) EXPECT_EQ(e["code"], code) << body;
}

}  // namespace tokengrid::http::testing
