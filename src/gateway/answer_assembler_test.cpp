#include "gateway/answer_assembler.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

TEST(AnswerAssembler, ChatChunksBecomeOneCompletion) {
  AnswerAssembler a(true);
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":{"content":[{"token":"Hel","logprob":-0.5}]}}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":1,"delta":{"content":"Yo"}}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"content":"lo"},"logprobs":{"content":[{"token":"lo","logprob":-0.25}]},"finish_reason":"stop"}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":1,"delta":{},"finish_reason":"length"}]})"));
  const json r = json::parse(a.answer("chatcmpl-x", 7, "tiny", R"({"prompt_tokens":3})"));
  EXPECT_EQ(r["object"], "chat.completion");
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["choices"][0]["logprobs"]["content"].size(), 2u);
  EXPECT_EQ(r["choices"][1]["message"]["content"], "Yo");
  EXPECT_TRUE(r["choices"][1]["logprobs"].is_null());
  EXPECT_EQ(r["usage"]["prompt_tokens"], 3);
}

TEST(AnswerAssembler, ToolCallPiecesMergeByIndex) {
  AnswerAssembler a(true);
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":"tool_calls"}]})"));
  const json m = json::parse(a.answer("id", 0, "m", "null"))["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
}

TEST(AnswerAssembler, TextCompletionChunksAndLogprobArrays) {
  AnswerAssembler a(false);
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"text":"a","logprobs":{"tokens":["a"],"token_logprobs":[-1],"top_logprobs":[{}],"text_offset":[0]}}]})"));
  a.add(*json_scan::scan(R"({"choices":[{"index":0,"text":"b","logprobs":{"tokens":["b"],"token_logprobs":[-2],"top_logprobs":[{}],"text_offset":[1]}, "finish_reason":"length"}]})"));
  const json c = json::parse(a.answer("cmpl-1", 0, "m", "null"))["choices"][0];
  EXPECT_EQ(c["text"], "ab");
  EXPECT_EQ(c["logprobs"]["tokens"], json::parse(R"(["a","b"])"));
  EXPECT_EQ(c["logprobs"]["text_offset"], json::parse("[0,1]"));
  EXPECT_EQ(c["finish_reason"], "length");
}

TEST(AnswerAssembler, HostileChunksAreIgnoredNotThrown) {
  AnswerAssembler a(true);
  for (const char* text : {R"({"choices":5})", R"({"choices":[1,"x",null]})", R"({"choices":[{"index":"zero","delta":[]}]})",
                           R"({"choices":[{"delta":{"content":7,"tool_calls":[{"index":"a","function":{"name":1}}]}}]})",
                           R"({"choices":[{"delta":{"tool_calls":{"index":0}}, "logprobs":[1]}]})", "{}", "[]"}) {
    EXPECT_NO_THROW(a.add(*json_scan::scan(text))) << text;
  }
  EXPECT_TRUE(json::parse(a.answer("id", 0, "m", "null")).is_object());
}

// The answer is written as text: it must read byte for byte as the document it describes.
TEST(AnswerAssembler, TextIsTheDumpOfTheDocument) {
  AnswerAssembler chat(true);
  chat.add(*json_scan::scan(R"({"choices":[{"index":1,"delta":{"role":"assistant","content":"caf\u00e9 \"q\" \\ \n\t\u0001"},"logprobs":{"content":[{"token":"x","logprob":-0.5}]}}]})"));
  chat.add(*json_scan::scan(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"id":"c2","function":{"name":"f","arguments":"{\"a\":1}"}},{"index":0,"id":"c0","type":"function","function":{"name":"g","arguments":""}}]},"finish_reason":"tool_calls"}]})"));
  chat.add(*json_scan::scan(R"({"choices":[{"index":1,"delta":{},"finish_reason":"stop"}]})"));
  const json usage = {{"prompt_tokens", 3}, {"it_wh", 1.5e-06}, {"site", "s\u00e9"}};
  const json calls = json::array({{{"id", "c0"}, {"type", "function"}, {"function", {{"name", "g"}, {"arguments", ""}}}},
                                  {{"id", "c2"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"a\":1}"}}}}});
  const json expected = {
      {"id", "chatcmpl-\"x\""},
      {"object", "chat.completion"},
      {"created", -7},
      {"model", "m\xc3\xa9"},
      {"choices",
       {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}}}, {"logprobs", nullptr},
         {"finish_reason", "tool_calls"}},
        {{"index", 1}, {"message", {{"role", "assistant"}, {"content", "caf\xc3\xa9 \"q\" \\ \n\t\x01"}}},
         {"logprobs", {{"content", {{{"token", "x"}, {"logprob", -0.5}}}}}}, {"finish_reason", "stop"}}}},
      {"usage", usage}};
  EXPECT_EQ(chat.answer("chatcmpl-\"x\"", -7, "m\xc3\xa9", usage.dump()), expected.dump());

  AnswerAssembler text(false);
  text.add(*json_scan::scan(R"({"choices":[{"index":0,"text":"a\u2028b"}]})"));
  const json expected_text = {{"id", "cmpl-1"}, {"object", "text_completion"}, {"created", 0}, {"model", "m"},
                              {"choices", {{{"index", 0}, {"text", "a\xe2\x80\xa8" "b"}, {"logprobs", nullptr}, {"finish_reason", nullptr}}}},
                              {"usage", nullptr}};
  EXPECT_EQ(text.answer("cmpl-1", 0, "m", "null"), expected_text.dump());
  EXPECT_EQ(AnswerAssembler(true).answer("i", 1, "m", "null"), R"({"id":"i","object":"chat.completion","created":1,"model":"m","choices":[],"usage":null})");
}

}  // namespace
}  // namespace tokengrid::gateway
