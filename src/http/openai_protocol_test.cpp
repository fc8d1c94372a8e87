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
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 9), std::string::npos) << a;
  EXPECT_NE(a, b);
}

TEST(OpenAiProtocol, ModelsList) {
  json j = json::parse(models_body("stories260k", 7));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "stories260k");
  EXPECT_EQ(j["data"][0]["object"], "model");
}


// ---- structured output, tools, completions' extras, embeddings -----------------------------

const std::string kUser = R"("messages":[{"role":"user","content":"x"}])";

ChatRequest chat(const std::string& fields) {
  auto r = parse_chat_request("{" + kUser + (fields.empty() ? "" : "," + fields) + "}");
  EXPECT_TRUE(r.is_ok()) << fields << ": " << (r.is_ok() ? "" : r.error().message);
  return r.is_ok() ? r.value() : ChatRequest{};
}

TEST(OpenAiProtocol, ResponseFormats) {
  EXPECT_EQ(chat(R"("response_format":{"type":"text"})").options.response_format.kind, ResponseFormat::Kind::kText);
  EXPECT_EQ(chat(R"("response_format":{"type":"json_object"})").options.response_format.kind,
            ResponseFormat::Kind::kJsonObject);
  ResponseFormat s = chat(R"("response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,
                               "schema":{"type":"object","properties":{"z":{},"a":{}}}}})").options.response_format;
  EXPECT_EQ(s.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_EQ(s.name, "n");
  EXPECT_TRUE(s.strict);
  EXPECT_EQ(s.schema, R"({"type":"object","properties":{"z":{},"a":{}}})");  // key order kept
  EXPECT_EQ(s.param, "response_format");
  ResponseFormat re = chat(R"("response_format":{"type":"regex","regex":"[0-9]+"})").options.response_format;
  EXPECT_EQ(re.kind, ResponseFormat::Kind::kRegex);
  EXPECT_EQ(re.regex, "[0-9]+");
  EXPECT_EQ(chat(R"("guided_regex":"a+")").options.response_format.param, "guided_regex");
  ResponseFormat gj = chat(R"("guided_json":"{\"type\":\"integer\"}")").options.response_format;
  EXPECT_EQ(gj.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_EQ(gj.schema, R"({"type":"integer"})");
  ResponseFormat gc = chat(R"("guided_choice":["yes","no"])").options.response_format;
  EXPECT_EQ(gc.choices, (std::vector<std::string>{"yes", "no"}));
  for (const auto& [fields, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("response_format":"json")", "response_format"},
           {R"("response_format":{"type":"grammar"})", "response_format.type"},
           {R"("response_format":{"type":"json_schema"})", "response_format.json_schema"},
           {R"("response_format":{"type":"json_schema","json_schema":{"schema":5}})", "response_format.json_schema.schema"},
           {R"("response_format":{"type":"regex"})", "response_format.regex"},
           {R"("guided_choice":[])", "guided_choice"},
           {R"("guided_json":"not json")", "guided_json"},
           {R"("response_format":{"type":"json_object"},"guided_regex":"a")", "guided_regex"}}) {
    EXPECT_EQ(chat_error("{" + kUser + "," + fields + "}").param, param) << fields;
  }
}

TEST(OpenAiProtocol, ToolsAndToolChoice) {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"get_weather","description":"d",
                                 "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
                                {"type":"function","function":{"name":"noop"}}])";
  ChatRequest r = chat(tools);
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].parameters, R"({"type":"object","properties":{"city":{"type":"string"}}})");
  EXPECT_EQ(r.tools[1].parameters, "");
  EXPECT_EQ(r.tool_choice.mode, ToolChoice::Mode::kAuto);
  EXPECT_TRUE(r.parallel_tool_calls);
  EXPECT_EQ(chat("").tool_choice.mode, ToolChoice::Mode::kNone);
  EXPECT_EQ(chat(tools + R"(,"tool_choice":"required","parallel_tool_calls":false)").tool_choice.mode,
            ToolChoice::Mode::kRequired);
  ChatRequest named = chat(tools + R"(,"tool_choice":{"type":"function","function":{"name":"noop"}})");
  EXPECT_EQ(named.tool_choice.mode, ToolChoice::Mode::kFunction);
  EXPECT_EQ(named.tool_choice.name, "noop");
  for (const auto& [fields, param] : std::vector<std::pair<std::string, std::string>>{
           {tools + R"(,"tool_choice":{"type":"function","function":{"name":"other"}})", "tool_choice"},
           {tools + R"(,"tool_choice":"sometimes")", "tool_choice"},
           {tools + R"(,"tool_choice":{"type":5,"function":{"name":"noop"}})", "tool_choice"},
           {tools + R"(,"tool_choice":{"type":null})", "tool_choice"},
           {R"("tool_choice":"required")", "tool_choice"},
           {R"("tools":[{"type":"web_search"}])", "tools[0].type"},
           {R"("tools":[{"type":"function","function":{"name":"bad name"}}])", "tools[0].function.name"},
           {R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])", "tools[0].function.parameters"},
           {R"("tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}])", "tools"},
           {R"("tools":{})", "tools"}}) {
    EXPECT_EQ(chat_error("{" + kUser + "," + fields + "}").param, param) << fields;
  }
}

TEST(OpenAiProtocol, ToolMessagesAndAssistantCalls) {
  auto r = parse_chat_request(R"({"messages":[
      {"role":"user","content":"w?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"5 C"}]}]})");
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  const auto& m = r.value().messages;
  ASSERT_EQ(m[1].tool_calls.size(), 1u);
  EXPECT_EQ(m[1].tool_calls[0].id, "call_1");
  EXPECT_EQ(m[1].tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(m[2].role, "tool");
  EXPECT_EQ(m[2].tool_call_id, "call_1");
  EXPECT_EQ(m[2].content, "5 C");
  EXPECT_EQ(chat_error(R"({"messages":[{"role":"tool","content":"x"}]})").param, "messages[0].tool_call_id");
  EXPECT_EQ(chat_error(R"({"messages":[{"role":"function","name":"f","content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(chat_error(R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]})").param,
            "messages[0].tool_calls[0].function.name");
}

TEST(OpenAiProtocol, KnownUnsupportedFieldsAreRefusedUnlessNeutral) {
  for (const char* field : {"audio", "prediction", "web_search_options", "functions", "function_call",
                            "reasoning_effort", "verbosity", "guided_grammar", "prompt_logprobs", "chat_template",
                            "documents"}) {
    EXPECT_EQ(chat_error("{" + kUser + ",\"" + field + "\":{\"x\":1}}").param, field);
  }
  for (const auto& [fields, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("modalities":["audio"])", "modalities"}, {R"("store":true)", "store"},
           {R"("service_tier":"priority")", "service_tier"}, {R"("repetition_penalty":1.1)", "repetition_penalty"},
           {R"("min_tokens":3)", "min_tokens"}, {R"("use_beam_search":true)", "use_beam_search"},
           {R"("stop_token_ids":[2])", "stop_token_ids"}, {R"("skip_special_tokens":false)", "skip_special_tokens"},
           {R"("echo":true)", "echo"}, {R"("messages":[{"role":"user","content":"x","audio":{"id":"a"}}])", "messages[0].audio"}}) {
    EXPECT_EQ(chat_error("{" + kUser + "," + fields + "}").param, param) << fields;
  }
  ChatRequest neutral = chat(R"("modalities":["text"],"store":false,"service_tier":"auto","repetition_penalty":1,
                                 "min_tokens":0,"stop_token_ids":[],"audio":null,"metadata":{"a":"b"},"brand_new":[1])");
  EXPECT_EQ(neutral.messages.size(), 1u);
  ChatRequest ext = chat(R"("top_k":40,"min_p":0.05,"ignore_eos":true,"max_completion_tokens":7,"user":"u1")");
  EXPECT_EQ(ext.options.top_k, 40);
  EXPECT_FLOAT_EQ(ext.options.min_p, 0.05f);
  EXPECT_TRUE(ext.options.ignore_eos);
  EXPECT_EQ(ext.options.max_tokens, 7);
  EXPECT_EQ(ext.options.user, "u1");
}

TEST(OpenAiProtocol, CompletionEchoSuffixAndBestOf) {
  auto r = parse_completion_request(R"({"prompt":"a","echo":true,"best_of":3,"n":2,"suffix":null})");
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  EXPECT_TRUE(r.value().echo);
  EXPECT_EQ(r.value().best_of, 3);
  EXPECT_FALSE(r.value().suffix);
  auto s = parse_completion_request(R"({"prompt":"def f(","suffix":"):\n"})");
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(*s.value().suffix, "):\n");
  EXPECT_EQ(completion_error(R"({"prompt":"a","best_of":1,"n":2})").param, "best_of");
  EXPECT_EQ(completion_error(R"({"prompt":"a","best_of":21})").param, "best_of");
  EXPECT_EQ(completion_error(R"({"prompt":"a","best_of":2,"stream":true})").param, "best_of");
  EXPECT_EQ(completion_error(R"({"prompt":"a","echo":true,"logprobs":2})").param, "echo");
  EXPECT_EQ(completion_error(R"({"prompt":"a","suffix":5})").param, "suffix");
  EXPECT_EQ(completion_error(R"({"prompt":["a","b","c","d","e","f","g"],"best_of":20})").param, "best_of");
}

TEST(OpenAiProtocol, EmbeddingRequests) {
  auto r = parse_embedding_request(R"({"model":"m","input":["a","b"],"encoding_format":"base64","dimensions":8,"user":"u"})");
  ASSERT_TRUE(r.is_ok()) << r.error().message;
  EXPECT_EQ(r.value().inputs.size(), 2u);
  EXPECT_TRUE(r.value().base64);
  EXPECT_EQ(r.value().dimensions, 8);
  auto ids = parse_embedding_request(R"({"input":[[1,2],[3]]})");
  ASSERT_TRUE(ids.is_ok());
  EXPECT_TRUE(ids.value().inputs[1].is_token_ids);
  EXPECT_EQ(parse_embedding_request(R"({"input":[5,6]})").value().inputs[0].token_ids, (std::vector<int32_t>{5, 6}));
  for (const char* body : {R"({})", R"({"input":""})", R"({"input":[]})", R"({"input":[[]]})", R"({"input":5})",
                           R"({"input":["a",1]})", R"({"input":"a","encoding_format":"int8"})",
                           R"({"input":"a","dimensions":0})", R"({"input":[-1]})", "not json"}) {
    auto e = parse_embedding_request(body);
    ASSERT_FALSE(e.is_ok()) << body;
    EXPECT_EQ(e.error().status, 400);
  }
  std::string many = R"({"input":[)";
  for (int i = 0; i < 2049; ++i) many += std::string(i ? "," : "") + "\"x\"";
  EXPECT_EQ(parse_embedding_request(many + "]}").error().param, "input");
}

TEST(OpenAiProtocol, ToolCallResponsesAndChunks) {
  ResponseHeader h{"chatcmpl-1", 1, "m", "fp_0123456789"};
  Choice c;
  c.finish_reason = "tool_calls";
  c.tool_calls = {{"call_abc", "get_weather", "{\"city\":\"Oslo\"}"}};
  json body = json::parse(chat_completion_body(h, {c}, Usage{}));
  EXPECT_EQ(body["system_fingerprint"], "fp_0123456789");
  const json& message = body["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(message["tool_calls"][0]["id"], "call_abc");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  json start = json::parse(chat_tool_call_start_chunk(h, 0, 1, c.tool_calls[0], false));
  const json& piece = start["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(piece["index"], 1);
  EXPECT_EQ(piece["id"], "call_abc");
  EXPECT_EQ(piece["function"]["name"], "get_weather");
  EXPECT_EQ(piece["function"]["arguments"], "");
  json more = json::parse(chat_tool_call_arguments_chunk(h, 0, 1, "{\"ci", true));
  EXPECT_EQ(more["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"], "{\"ci");
  EXPECT_FALSE(more["choices"][0]["delta"]["tool_calls"][0].contains("id"));
  EXPECT_TRUE(more["usage"].is_null());
  const std::string id = new_tool_call_id();
  EXPECT_EQ(id.size(), 29u);
  EXPECT_EQ(id.rfind("call_", 0), 0u);
}

TEST(OpenAiProtocol, EmbeddingsBodiesAsFloatsAndBase64) {
  json floats = json::parse(embeddings_body("m", {{0.5f, -1.0f}, {0.25f, 0.0f}}, false, 7));
  EXPECT_EQ(floats["data"][1]["index"], 1);
  EXPECT_EQ(floats["data"][0]["embedding"][1], -1.0);
  EXPECT_EQ(floats["usage"]["total_tokens"], 7);
  json b64 = json::parse(embeddings_body("m", {{1.0f, -2.0f}}, true, 1));
  // 1.0f = 00 00 80 3F, -2.0f = 00 00 00 C0, little-endian.
  EXPECT_EQ(b64["data"][0]["embedding"], "AACAPwAAAMA=");
}

}  // namespace
}  // namespace tokengrid::http
