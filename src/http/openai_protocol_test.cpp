#include "http/openai_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tokengrid::http {
namespace {

using nlohmann::json;

ApiError chat_error(const std::string& body) {
  auto r = parse_chat_request(body);
  EXPECT_FALSE(r.is_ok()) << body;
  return r.is_ok() ? ApiError{} : r.error();
}

ApiError completion_error(const std::string& body) {
  auto r = parse_completion_request(body);
  EXPECT_FALSE(r.is_ok()) << body;
  return r.is_ok() ? ApiError{} : r.error();
}

TEST(OpenAiProtocol, ParsesAFullChatRequest) {
  auto r = parse_chat_request(R"({
    "model": "m", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null},
      {"role": "developer", "content": "dev"}],
    "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "n": 3,
    "stop": ["\n", "", "END"], "seed": -5, "presence_penalty": 1, "frequency_penalty": -1.5,
    "logit_bias": {"12": -100, "7": 2.5}, "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true}, "user": "u1",
    "some_future_field": {"ignored": true}})");
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  const ChatRequest& c = r.value();
  ASSERT_EQ(c.messages.size(), 4u);
  EXPECT_EQ(c.messages[1].content, "Hi there");
  EXPECT_EQ(c.messages[2].role, "assistant");
  EXPECT_EQ(c.messages[2].content, "");
  EXPECT_EQ(c.messages[3].role, "system");
  const GenerationOptions& o = c.options;
  EXPECT_EQ(o.model, "m");
  EXPECT_EQ(o.max_tokens, 7);
  EXPECT_FLOAT_EQ(o.temperature, 0.5f);
  EXPECT_FLOAT_EQ(o.top_p, 0.9f);
  EXPECT_EQ(o.n, 3);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(o.seed, -5);
  EXPECT_FLOAT_EQ(o.frequency_penalty, -1.5f);
  ASSERT_EQ(o.logit_bias.size(), 2u);
  EXPECT_TRUE(o.logprobs);
  EXPECT_EQ(o.top_logprobs, 3);
  EXPECT_TRUE(o.stream);
  EXPECT_TRUE(o.include_usage);
  EXPECT_EQ(o.user, "u1");
}

TEST(OpenAiProtocol, DefaultsAndNulls) {
  auto r = parse_chat_request(
      R"({"messages":[{"role":"user","content":"x"}],"temperature":null,"stop":null,"n":null})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r.value().options.max_tokens.has_value());
  EXPECT_FLOAT_EQ(r.value().options.temperature, 1.0f);
  EXPECT_EQ(r.value().options.n, 1);
  EXPECT_FALSE(r.value().options.stream);
}

TEST(OpenAiProtocol, MalformedBodies) {
  for (const char* body : {"", "{", "not json", "{\"messages\": [}", "[1,2]", "\"str\"", "null",
                           "{\"a\":1}garbage", "\xff\xfe{}"}) {
    ApiError e = chat_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
}

TEST(OpenAiProtocol, ChatMessagesValidation) {
  EXPECT_EQ(chat_error(R"({})").param, "messages");
  EXPECT_EQ(chat_error(R"({"messages": []})").param, "messages");
  EXPECT_EQ(chat_error(R"({"messages": "hi"})").param, "messages");
  EXPECT_EQ(chat_error(R"({"messages": [1]})").param, "messages[0]");
  EXPECT_EQ(chat_error(R"({"messages": [{"content": "x"}]})").param, "messages[0].role");
  EXPECT_EQ(chat_error(R"({"messages": [{"role": "wizard", "content": "x"}]})").param,
            "messages[0].role");
  EXPECT_EQ(chat_error(R"({"messages": [{"role": "user"}]})").param, "messages[0].content");
  EXPECT_EQ(chat_error(R"({"messages": [{"role": "user", "content": 5}]})").param,
            "messages[0].content");
  EXPECT_EQ(chat_error(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})")
                .param,
            "messages[0].content");
}

TEST(OpenAiProtocol, WrongTypesAndRanges) {
  const std::string m = R"("messages":[{"role":"user","content":"x"}])";
  struct Case {
    std::string field;
    std::string param;
  };
  std::vector<Case> cases = {
      {R"("max_tokens": "10")", "max_tokens"},     {R"("max_tokens": 0)", "max_tokens"},
      {R"("max_tokens": 1.5)", "max_tokens"},      {R"("max_tokens": -1)", "max_tokens"},
      {R"("max_completion_tokens": 0)", "max_completion_tokens"},
      {R"("temperature": "hot")", "temperature"},  {R"("temperature": 2.5)", "temperature"},
      {R"("temperature": -0.1)", "temperature"},   {R"("top_p": 1.1)", "top_p"},
      {R"("n": 0)", "n"},                          {R"("n": 129)", "n"},
      {R"("n": true)", "n"},                       {R"("stop": 5)", "stop"},
      {R"("stop": ["a","b","c","d","e"])", "stop"}, {R"("stop": [1])", "stop"},
      {R"("seed": "x")", "seed"},                  {R"("seed": 1e30)", "seed"},
      {R"("seed": 18446744073709551615)", "seed"},
      {R"("presence_penalty": 3)", "presence_penalty"},
      {R"("frequency_penalty": -2.1)", "frequency_penalty"},
      {R"("logit_bias": [1])", "logit_bias"},      {R"("logit_bias": {"x": 1})", "logit_bias"},
      {R"("logit_bias": {"-1": 1})", "logit_bias"}, {R"("logit_bias": {"5": 101})", "logit_bias"},
      {R"("logit_bias": {"5": "1"})", "logit_bias"},
      {R"("logprobs": 1)", "logprobs"},            {R"("top_logprobs": 2)", "top_logprobs"},
      {R"("logprobs": true, "top_logprobs": 21)", "top_logprobs"},
      {R"("stream": "yes")", "stream"},            {R"("stream_options": {"include_usage": true})", "stream_options"},
      {R"("stream": true, "stream_options": 1)", "stream_options"},
      {R"("stream": true, "stream_options": {"include_usage": 1})", "stream_options.include_usage"},
      {R"("user": 5)", "user"},                    {R"("model": 5)", "model"},
  };
  for (const Case& c : cases) {
    ApiError e = chat_error("{" + m + "," + c.field + "}");
    EXPECT_EQ(e.status, 400) << c.field;
    EXPECT_EQ(e.param, c.param) << c.field << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(OpenAiProtocol, CompletionPromptForms) {
  auto text = parse_completion_request(R"({"prompt": "Once"})");
  ASSERT_TRUE(text.is_ok());
  ASSERT_EQ(text.value().prompts.size(), 1u);
  EXPECT_EQ(text.value().prompts[0].text, "Once");

  auto list = parse_completion_request(R"({"prompt": ["a", "b"], "logprobs": 2})");
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ(list.value().prompts.size(), 2u);
  EXPECT_TRUE(list.value().options.logprobs);
  EXPECT_EQ(list.value().options.top_logprobs, 2);

  auto ids = parse_completion_request(R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(ids.is_ok());
  ASSERT_EQ(ids.value().prompts.size(), 1u);
  EXPECT_TRUE(ids.value().prompts[0].is_token_ids);
  EXPECT_EQ(ids.value().prompts[0].token_ids, (std::vector<int32_t>{1, 2, 3}));

  auto lists = parse_completion_request(R"({"prompt": [[1, 2], [3]], "n": 2})");
  ASSERT_TRUE(lists.is_ok());
  EXPECT_EQ(lists.value().prompts.size(), 2u);
  EXPECT_EQ(lists.value().prompts[1].token_ids, (std::vector<int32_t>{3}));
}

TEST(OpenAiProtocol, CompletionPromptValidation) {
  EXPECT_EQ(completion_error(R"({})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": 5})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": []})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": [[]]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": [1, "a"]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": [1, -2]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": [1, 2.5]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": [1, 4294967296]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": ["a", {}]})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt": "a", "logprobs": true})").param, "logprobs");
  EXPECT_EQ(completion_error(R"({"prompt": "a", "logprobs": 21})").param, "logprobs");
  std::string many = R"({"prompt": [)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "\"p\"";
  EXPECT_EQ(completion_error(many + R"(], "n": 2})").param, "n");
}

TEST(OpenAiProtocol, HostileInputDoesNotCrash) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_FALSE(parse_chat_request(deep).is_ok());
  EXPECT_FALSE(parse_completion_request("{\"prompt\":" + deep + "}").is_ok());
  std::string truncated = R"({"messages":[{"role":"user","content":"hello)";
  for (size_t i = 0; i < truncated.size(); ++i) {
    EXPECT_FALSE(parse_chat_request(truncated.substr(0, i)).is_ok());
  }
  std::string invalid_utf8 = "{\"prompt\": \"\xc3\x28\"}";
  EXPECT_FALSE(parse_completion_request(invalid_utf8).is_ok());
}

TEST(OpenAiProtocol, ErrorBodyShape) {
  json e = json::parse(error_body(invalid_request("bad n", "n")));
  EXPECT_EQ(e["error"]["message"], "bad n");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "n");
  EXPECT_TRUE(e["error"]["code"].is_null());
  json f = json::parse(error_body(ApiError{401, "no key", "authentication_error", "", "invalid_api_key"}));
  EXPECT_TRUE(f["error"]["param"].is_null());
  EXPECT_EQ(f["error"]["code"], "invalid_api_key");
}

TEST(OpenAiProtocol, ChatCompletionShape) {
  ResponseHeader h{"chatcmpl-1", 1700000000, "stories"};
  Choice c;
  c.index = 0;
  c.text = "Hello";
  c.finish_reason = "length";
  c.with_logprobs = true;
  c.logprobs = {{"Hel", -0.5f, {{"Hel", -0.5f}, {"Hi", -1.5f}}}, {"lo", -0.25f, {}}};
  json j = json::parse(chat_completion_body(h, {c}, Usage{4, 2, 1}));
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  auto& lp = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 2u);
  EXPECT_EQ(lp[0]["token"], "Hel");
  EXPECT_EQ(lp[0]["bytes"], json({72, 101, 108}));
  EXPECT_EQ(lp[0]["top_logprobs"][1]["token"], "Hi");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
}

TEST(OpenAiProtocol, TextCompletionShape) {
  ResponseHeader h{"cmpl-1", 1, "m"};
  Choice plain{1, "abc", "stop", false, {}};
  Choice with{0, "xy", "length", true, {{"x", -1.0f, {{"x", -1.0f}}}, {"y", -2.0f, {}}}};
  json j = json::parse(text_completion_body(h, {with, plain}, Usage{1, 2, 0}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "xy");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json({"x", "y"}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], json({0, 1}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["top_logprobs"][0]["x"], -1.0);
  EXPECT_TRUE(j["choices"][1]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][1]["finish_reason"], "stop");
}

TEST(OpenAiProtocol, ChunkShapes) {
  ResponseHeader h{"chatcmpl-2", 5, "m"};
  json role = json::parse(chat_role_chunk(h, 1, false));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["index"], 1);
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(role.contains("usage"));

  json content = json::parse(chat_content_chunk(h, 0, "tok", nullptr, true));
  EXPECT_EQ(content["choices"][0]["delta"]["content"], "tok");
  EXPECT_FALSE(content["choices"][0]["delta"].contains("role"));
  EXPECT_TRUE(content.contains("usage"));
  EXPECT_TRUE(content["usage"].is_null());

  json fin = json::parse(chat_finish_chunk(h, 0, "stop", false));
  EXPECT_TRUE(fin["choices"][0]["delta"].is_object());
  EXPECT_TRUE(fin["choices"][0]["delta"].empty());
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");

  json usage = json::parse(usage_chunk(h, "chat.completion.chunk", Usage{3, 4, 0}));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);

  std::string reason = "length";
  TokenLogprobs lp{"a", -0.1f, {}};
  json text = json::parse(text_chunk(h, 2, "a", &lp, 10, &reason, false));
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["index"], 2);
  EXPECT_EQ(text["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(text["choices"][0]["logprobs"]["text_offset"][0], 10);
}

TEST(OpenAiProtocol, InvalidUtf8InOutputIsReplacedNotThrown) {
  ResponseHeader h{"cmpl-3", 1, "m"};
  Choice c{0, std::string("ok\xff"), "stop", false, {}};
  json j = json::parse(text_completion_body(h, {c}, Usage{}));
  EXPECT_EQ(j["choices"][0]["text"], "ok\xef\xbf\xbd");
}

TEST(OpenAiProtocol, ResponseIdsAreFreshWithPrefix) {
  std::string a = new_response_id("chatcmpl"), b = new_response_id("chatcmpl");
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(a.size(), std::string("chatcmpl-").size() + 24);
  EXPECT_NE(a, b);
}

TEST(OpenAiProtocol, ModelsList) {
  json j = json::parse(models_body("stories260k", 7));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "stories260k");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

}  // namespace
}  // namespace tokengrid::http
