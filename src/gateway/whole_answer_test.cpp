#include "gateway/whole_answer.h"

#include <gtest/gtest.h>

#include <string>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kAnswer =
    R"({"id":"chatcmpl-site","object":"chat.completion","created":7,"model":"site-model","system_fingerprint":"fp",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi \u00e9"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})";

TEST(WholeGeneration, ReadsTheUsageAndKeepsTheSiteBytesButTheGatewaysMembers) {
  auto answer = read_whole_generation(kAnswer, 1);
  ASSERT_TRUE(answer.is_ok()) << answer.status().to_string();
  EXPECT_EQ(answer->usage.prompt_tokens, 5);
  EXPECT_EQ(answer->usage.completion_tokens, 2);
  const std::string out = client_generation_answer(answer->document, "chatcmpl-gw", "tiny", R"({"prompt_tokens":5,"it_wh":0.5})");
  EXPECT_EQ(out,
            R"({"id":"chatcmpl-gw","object":"chat.completion","created":7,"model":"tiny","system_fingerprint":"fp",)"
            R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi \u00e9"},"finish_reason":"stop"}],)"
            R"("usage":{"prompt_tokens":5,"it_wh":0.5}})");
  EXPECT_FALSE(json::parse(out, nullptr, false).is_discarded());
}

TEST(WholeGeneration, AnAnswerWithoutTheGatewaysMembersGetsThemOnceAndRepeatsAreDropped) {
  auto answer = read_whole_generation(R"({"choices":[{"text":"x"}],"usage":{"a":1},"usage":{"b":2},"id":"1","id":"2"})", 1);
  ASSERT_TRUE(answer.is_ok()) << answer.status().to_string();
  const json out = json::parse(client_generation_answer(answer->document, "cmpl-gw", "m", R"({"prompt_tokens":1})"));
  EXPECT_EQ(out, json::parse(R"({"choices":[{"text":"x"}],"usage":{"prompt_tokens":1},"id":"cmpl-gw","model":"m"})"));
  EXPECT_EQ(client_generation_answer(answer->document, "a\"b", "m", "{}").find(R"("id":"a\"b")") != std::string::npos, true);
}

TEST(WholeGeneration, AnAnswerWithoutUsageReportsNoCounts) {
  auto answer = read_whole_generation(R"({"choices":[{"text":"x"},{"text":"y"}]})", 2);
  ASSERT_TRUE(answer.is_ok());
  EXPECT_EQ(answer->usage.prompt_tokens, -1);
  EXPECT_EQ(answer->usage.completion_tokens, -1);
}

TEST(WholeGeneration, BrokenAnswersSayWhatIsWrong) {
  const auto error_of = [](std::string_view body, size_t choices = 1) {
    auto answer = read_whole_generation(body, choices);
    return answer.is_ok() ? std::string("ok") : answer.status().message();
  };
  EXPECT_EQ(error_of("data: {}\n\n"), "the site's answer is not JSON");
  EXPECT_EQ(error_of("[1,2]"), "the site's answer is not a JSON object");
  EXPECT_EQ(error_of(R"({"object":"chat.completion"})"), "the site's answer has no 'choices' list");
  EXPECT_EQ(error_of(R"({"choices":{}})"), "the site's answer has no 'choices' list");
  EXPECT_EQ(error_of(R"({"choices":[1]})"), "a choice of the site's answer is not an object");
  EXPECT_EQ(error_of(R"({"choices":[{}]})", 2), "the site answered 1 choices for 2 asked");
  EXPECT_EQ(error_of(R"({"error":{"message":"busy"}})").rfind("the site answered an error: ", 0), 0u);
}

TEST(WholeGeneration, TruncatedAndHostileAnswersAreRefusedNeverReadPastTheirEnd) {
  const std::string whole = kAnswer;
  for (size_t n = 0; n < whole.size(); ++n) EXPECT_FALSE(read_whole_generation(whole.substr(0, n), 1).is_ok()) << n;
  EXPECT_FALSE(read_whole_generation(std::string(100000, '['), 1).is_ok());
  EXPECT_FALSE(read_whole_generation(R"({"choices":[{}],"usage":{"p":"\ud800"}})", 1).is_ok());
  EXPECT_FALSE(read_whole_generation(std::string("{\"choices\":[{}]}\0", 17), 1).is_ok());
  // A usage that is not an object is the site's, not the gateway's, to have got wrong: none read.
  auto odd = read_whole_generation(R"({"choices":[{}],"usage":"lots"})", 1);
  ASSERT_TRUE(odd.is_ok());
  EXPECT_EQ(odd->usage.completion_tokens, -1);
}

}  // namespace
}  // namespace tokengrid::gateway
