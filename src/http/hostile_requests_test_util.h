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
       })
    out.push_back(std::move(b));
  for (HostileBody& b : hostile_options(base)) out.push_back(std::move(b));
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
       })
    out.push_back(std::move(b));
  for (HostileBody& b : hostile_options(base)) out.push_back(std::move(b));
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
