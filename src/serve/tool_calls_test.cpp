#include "serve/tool_calls.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/grammar_test_util.h"

namespace tokengrid::serve {
namespace {

using http::ChatMessage;
using http::ChatRequest;
using http::Tool;
using http::ToolChoice;
using engine::testing_util::accepts;

struct Parsed {
  std::string content;
  std::vector<http::ToolCall> calls;
  std::string streamed_content;
  std::vector<std::string> streamed_arguments;
};

// Feeds the text in pieces of `piece` bytes (0: whole).
Parsed parse(ToolCallSyntax syntax, const std::string& text, size_t piece = 0) {
  ToolCallParser parser(syntax);
  Parsed out;
  auto take = [&](const std::vector<ToolCallParser::Event>& events) {
    for (const auto& e : events) {
      if (e.kind == ToolCallParser::Event::Kind::kContent) out.streamed_content += e.text;
      if (e.kind == ToolCallParser::Event::Kind::kCallStart) out.streamed_arguments.emplace_back();
      if (e.kind == ToolCallParser::Event::Kind::kArguments) out.streamed_arguments.at(e.call) += e.text;
    }
  };
  if (piece == 0) piece = text.size() + 1;
  for (size_t i = 0; i < text.size(); i += piece) take(parser.push(text.substr(i, piece)));
  take(parser.finish());
  out.content = parser.content();
  out.calls = parser.calls();
  return out;
}

TEST(ToolCallParser, HermesCallsWithContentInAnyPieces) {
  const std::string text =
      "Let me check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"d\": [1, {\"x\": "
      "\"}\\\"\"}]}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  for (size_t piece : {0, 1, 2, 3, 7}) {
    Parsed p = parse(ToolCallSyntax::kHermes, text, piece);
    EXPECT_EQ(p.content, "Let me check.") << piece;
    EXPECT_EQ(p.streamed_content, p.content);
    ASSERT_EQ(p.calls.size(), 2u) << piece;
    EXPECT_EQ(p.calls[0].name, "get_weather");
    EXPECT_EQ(p.calls[0].arguments, "{\"city\": \"Paris\", \"d\": [1, {\"x\": \"}\\\"\"}]}");
    EXPECT_EQ(p.calls[1].name, "get_time");
    EXPECT_EQ(p.calls[1].arguments, "{}");
    ASSERT_EQ(p.streamed_arguments.size(), 2u);
    EXPECT_EQ(p.streamed_arguments[0], p.calls[0].arguments);
    EXPECT_NE(p.calls[0].id, p.calls[1].id);
    EXPECT_EQ(p.calls[0].id.rfind("call_", 0), 0u);
  }
}

TEST(ToolCallParser, HermesCallsInAnotherLayoutAreParsedWhole) {
  Parsed p = parse(ToolCallSyntax::kHermes,
                   "<tool_call>{\"arguments\": {\"q\": 1}, \"name\": \"search\"}</tool_call>", 1);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "search");
  EXPECT_EQ(nlohmann::json::parse(p.calls[0].arguments), nlohmann::json::parse("{\"q\": 1}"));
  EXPECT_EQ(p.content, "");
}

TEST(ToolCallParser, TextThatOnlyLooksLikeACallStaysText) {
  EXPECT_EQ(parse(ToolCallSyntax::kHermes, "a <tool_ b", 1).content, "a <tool_ b");
  Parsed junk = parse(ToolCallSyntax::kHermes, "x<tool_call>not json</tool_call>y");
  EXPECT_TRUE(junk.calls.empty());
  EXPECT_EQ(junk.content, "x<tool_call>not json</tool_call>y");
  Parsed unfinished = parse(ToolCallSyntax::kHermes, "x<tool_call>\n{\"na");
  EXPECT_TRUE(unfinished.calls.empty());
  EXPECT_EQ(unfinished.content, "x<tool_call>\n{\"na");
  Parsed cut = parse(ToolCallSyntax::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1,", 2);
  ASSERT_EQ(cut.calls.size(), 1u);  // cut short by max_tokens: the arguments as far as they came
  EXPECT_EQ(cut.calls[0].arguments, "{\"a\": [1,");
}

TEST(ToolCallParser, Llama3JsonCalls) {
  Parsed p = parse(ToolCallSyntax::kLlama3,
                   " {\"name\": \"a\", \"parameters\": {\"x\": \"y\"}}; {\"name\": \"b\", \"parameters\": {}}", 3);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "a");
  EXPECT_EQ(p.calls[0].arguments, "{\"x\": \"y\"}");
  EXPECT_EQ(p.calls[1].name, "b");
  EXPECT_EQ(p.content, "");
  Parsed text = parse(ToolCallSyntax::kLlama3, "Hello {\"name\": \"a\"}", 1);
  EXPECT_TRUE(text.calls.empty());
  EXPECT_EQ(text.content, "Hello {\"name\": \"a\"}");
}

ChatRequest weather_request(ToolChoice::Mode mode, bool parallel = true) {
  ChatRequest r;
  r.tools = {{"get_weather", "", R"({"type":"object","properties":{"city":{"type":"string","maxLength":6},
               "unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false})"},
             {"get_time", "", ""}};
  r.tool_choice.mode = mode;
  if (mode == ToolChoice::Mode::kFunction) r.tool_choice.name = "get_time";
  r.parallel_tool_calls = parallel;
  return r;
}

TEST(ToolOutputGrammar, ForcedCallsMatchTheParameterSchemas) {
  GrammarCache cache;
  auto g = tool_output_grammar(ToolCallSyntax::kHermes, weather_request(ToolChoice::Mode::kRequired), cache);
  ASSERT_TRUE(g.is_ok());
  ASSERT_TRUE(g.value());
  const std::string weather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>";
  const std::string time = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  EXPECT_TRUE(accepts(*g.value(), weather));
  EXPECT_TRUE(accepts(*g.value(), weather + "\n" + time));
  EXPECT_FALSE(accepts(*g.value(), ""));
  EXPECT_FALSE(accepts(*g.value(), "Sure! " + weather));
  EXPECT_FALSE(accepts(*g.value(), "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"));
  EXPECT_FALSE(accepts(*g.value(), "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Stockholm\", \"unit\": \"c\"}}\n</tool_call>"));
  EXPECT_FALSE(accepts(*g.value(), "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));

  auto single = tool_output_grammar(ToolCallSyntax::kHermes, weather_request(ToolChoice::Mode::kRequired, false), cache);
  ASSERT_TRUE(single.is_ok());
  EXPECT_FALSE(accepts(*single.value(), weather + "\n" + time));
  auto named = tool_output_grammar(ToolCallSyntax::kHermes, weather_request(ToolChoice::Mode::kFunction), cache);
  ASSERT_TRUE(named.is_ok());
  EXPECT_TRUE(accepts(*named.value(), time));
  EXPECT_FALSE(accepts(*named.value(), weather));
  auto llama = tool_output_grammar(ToolCallSyntax::kLlama3, weather_request(ToolChoice::Mode::kRequired), cache);
  ASSERT_TRUE(llama.is_ok());
  EXPECT_TRUE(accepts(*llama.value(), "{\"name\": \"get_time\", \"parameters\": {}}; {\"name\": \"get_time\", \"parameters\": {}}"));
}

TEST(ToolOutputGrammar, AutoIsFreeUnlessAResponseFormatIsGiven) {
  GrammarCache cache;
  auto free = tool_output_grammar(ToolCallSyntax::kHermes, weather_request(ToolChoice::Mode::kAuto), cache);
  ASSERT_TRUE(free.is_ok());
  EXPECT_FALSE(free.value());
  ChatRequest r = weather_request(ToolChoice::Mode::kAuto);
  r.options.response_format.kind = http::ResponseFormat::Kind::kJsonObject;
  auto either = tool_output_grammar(ToolCallSyntax::kHermes, r, cache);
  ASSERT_TRUE(either.is_ok());
  EXPECT_TRUE(accepts(*either.value(), "{\"answer\": 42}"));
  EXPECT_TRUE(accepts(*either.value(), "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(accepts(*either.value(), "plain text"));
}

TEST(ToolOutputGrammar, BadParameterSchemasNameTheTool) {
  GrammarCache cache;
  ChatRequest r = weather_request(ToolChoice::Mode::kRequired);
  r.tools[1].parameters = R"({"type":"object","patternProperties":{"x":{}}})";
  auto g = tool_output_grammar(ToolCallSyntax::kHermes, r, cache);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.error().param, "tools[1].function.parameters");
  EXPECT_NE(g.error().message.find("patternProperties"), std::string::npos);
}

TEST(LowerToolMessages, HermesOffersToolsAndRendersCallsAndResults) {
  std::vector<ChatMessage> messages = {
      {"system", "Be brief.", {}, ""},
      {"user", "Weather?", {}, ""},
      {"assistant", "", {{"call_1", "get_weather", "{\"city\":\"Oslo\"}"}, {"call_2", "get_time", ""}}, ""},
      {"tool", "5 C", {}, "call_1"},
      {"tool", "12:00", {}, "call_2"},
  };
  auto out = lower_tool_messages(ToolCallSyntax::kHermes, messages, weather_request(ToolChoice::Mode::kAuto).tools, true);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].content.rfind("Be brief.\n\n# Tools", 0), 0u);
  EXPECT_NE(out[0].content.find("<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"get_weather\""), std::string::npos);
  EXPECT_EQ(out[2].content,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}\n</tool_call>\n"
            "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(out[3].role, "user");
  EXPECT_EQ(out[3].content, "<tool_response>\n5 C\n</tool_response>\n<tool_response>\n12:00\n</tool_response>");
  auto unoffered = lower_tool_messages(ToolCallSyntax::kHermes, {{"user", "hi", {}, ""}}, {}, false);
  ASSERT_EQ(unoffered.size(), 1u);
  auto no_system = lower_tool_messages(ToolCallSyntax::kHermes, {{"user", "hi", {}, ""}},
                                       weather_request(ToolChoice::Mode::kAuto).tools, true);
  ASSERT_EQ(no_system.size(), 2u);
  EXPECT_EQ(no_system[0].role, "system");
}

TEST(LowerToolMessages, Llama3UsesJsonCallsAndIpythonTurns) {
  std::vector<ChatMessage> messages = {
      {"user", "Weather?", {}, ""},
      {"assistant", "", {{"call_1", "get_weather", "{\"city\":\"Oslo\"}"}}, ""},
      {"tool", "5 C", {}, "call_1"},
  };
  auto out = lower_tool_messages(ToolCallSyntax::kLlama3, messages, weather_request(ToolChoice::Mode::kAuto).tools, true);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NE(out[0].content.find("\"parameters\": dictionary of argument name"), std::string::npos);
  EXPECT_NE(out[0].content.find("Weather?"), std::string::npos);
  EXPECT_EQ(out[1].content, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Oslo\"}}");
  EXPECT_EQ(out[2].role, "ipython");
  const std::string rendered = render_chat(ChatTemplateFamily::kLlama3, out).text;
  EXPECT_NE(rendered.find("<|start_header_id|>ipython<|end_header_id|>\n\n5 C<|eot_id|>"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::serve
