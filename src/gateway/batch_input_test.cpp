#include "gateway/batch_input.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kModels = {"tiny"};
constexpr const char* kChat = "/v1/chat/completions";

std::string line(const std::string& id, const std::string& content = "hi", const std::string& model = "tiny") {
  return json{{"custom_id", id},
              {"method", "POST"},
              {"url", kChat},
              {"body", {{"model", model}, {"messages", {{{"role", "user"}, {"content", content}}}}, {"max_tokens", 7}}}}
      .dump();
}

std::vector<BatchInputError> errors_of(const std::string& content, BatchInputLimits limits = {}) {
  auto r = read_batch_input(content, kChat, kModels, limits);
  return r.is_ok() ? std::vector<BatchInputError>{} : r.error();
}

TEST(BatchInput, ReadsRequestsWithTheirLinesAndSizes) {
  const std::string content = line("a", "12345678") + "\r\n\n   \n" + line("b") + "\n";
  auto r = read_batch_input(content, kChat, kModels);
  ASSERT_TRUE(r.is_ok()) << r.error().front().message;
  EXPECT_EQ(r->model, "tiny");
  ASSERT_EQ(r->requests.size(), 2u);
  EXPECT_EQ(r->requests[0].line, 1);
  EXPECT_EQ(r->requests[0].custom_id, "a");
  EXPECT_EQ(r->requests[0].prompt_bytes, 8);
  EXPECT_EQ(r->requests[0].max_output_tokens, 7);
  EXPECT_EQ(json::parse(r->requests[0].body)["model"], "tiny");
  EXPECT_EQ(r->requests[1].line, 4);  // blank lines keep their numbers
  EXPECT_EQ(r->requests[1].custom_id, "b");
}

TEST(BatchInput, ReadsCompletionsAgainstTheirEndpoint) {
  const std::string l = json{{"custom_id", "c"}, {"method", "POST"}, {"url", "/v1/completions"},
                             {"body", {{"model", "tiny"}, {"prompt", {"ab", "cde"}}}}}
                            .dump();
  auto r = read_batch_input(l, "/v1/completions", kModels);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->requests[0].prompt_bytes, 5);
  EXPECT_EQ(r->requests[0].max_output_tokens, 0);
  auto wrong = read_batch_input(l, kChat, kModels);
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.error()[0].code, "invalid_url");
}

TEST(BatchInput, EveryLineErrorNamesItsLineCodeAndParam) {
  json no_model = json::parse(line("m"));
  no_model["body"].erase("model");
  json extra = json::parse(line("x"));
  extra["priority"] = 1;
  const std::string content = line("a") + "\n" +                                            // 1 ok
                              "{not json\n" +                                               // 2
                              "[1,2]\n" +                                                   // 3
                              line("a") + "\n" +                                            // 4 duplicate
                              R"({"method":"POST","url":"/v1/chat/completions","body":{}})" "\n" +  // 5
                              R"({"custom_id":"g","method":"GET","url":"/v1/chat/completions","body":{"model":"tiny"}})" "\n" +  // 6
                              R"({"custom_id":"u","method":"POST","url":"/v1/embeddings","body":{"model":"tiny"}})" "\n" +  // 7
                              R"({"custom_id":"s","method":"POST","url":"/v1/chat/completions","body":"text"})" "\n" +  // 8
                              no_model.dump() + "\n" +                                      // 9
                              line("o", "hi", "other") + "\n" +                             // 10
                              extra.dump() + "\n" +                                         // 11
                              R"({"custom_id":"","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny"}})" "\n";  // 12
  const auto errors = errors_of(content);
  std::vector<std::tuple<int, std::string, std::string>> got;
  for (const auto& e : errors) got.emplace_back(e.line, e.code, e.param);
  const std::vector<std::tuple<int, std::string, std::string>> want = {
      {2, "invalid_json_line", ""},          {3, "invalid_json_line", ""},
      {4, "duplicate_custom_id", "custom_id"}, {5, "missing_required_parameter", "custom_id"},
      {6, "invalid_request", "method"},      {7, "invalid_url", "url"},
      {8, "invalid_request", "body"},        {9, "missing_required_parameter", "body.model"},
      {10, "mismatched_model", "body.model"}, {11, "invalid_request", "priority"},
      {12, "invalid_request", "custom_id"}};
  EXPECT_EQ(got, want);
  for (const auto& e : errors) EXPECT_FALSE(e.message.empty());
}

TEST(BatchInput, RefusesAModelNoSiteServes) {
  const auto errors = errors_of(line("a", "x", "gpt-9"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, "model_not_found");
  EXPECT_NE(errors[0].message.find("it serves: tiny"), std::string::npos);
}

TEST(BatchInput, FileLevelErrorsHaveNoLine) {
  for (const std::string empty : {"", "\n\n", " \r\n\t\n"}) {
    const auto errors = errors_of(empty);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].code, "empty_file");
    EXPECT_EQ(errors[0].line, 0);
  }
  BatchInputLimits small;
  small.max_bytes = 10;
  EXPECT_EQ(errors_of(line("a"), small).at(0).code, "file_too_large");
}

TEST(BatchInput, EnforcesTheRequestAndErrorLimits) {
  std::string content;
  for (int i = 0; i < 5; ++i) content += line("r" + std::to_string(i)) + "\n";
  BatchInputLimits limits;
  limits.max_requests = 5;
  EXPECT_TRUE(errors_of(content, limits).empty());
  limits.max_requests = 4;
  const auto over = errors_of(content, limits);
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].code, "too_many_requests");
  EXPECT_EQ(over[0].line, 5);
  std::string bad;
  for (int i = 0; i < 50; ++i) bad += "nope\n";
  limits.max_requests = 100;
  limits.max_errors = 10;
  EXPECT_EQ(errors_of(bad, limits).size(), 10u);
}

TEST(BatchInput, HostileLinesAreErrorsNotCrashes) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deep_body = R"({"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny","x":)" +
                                std::string(70, '[') + std::string(70, ']') + "}}";
  for (const std::string& hostile :
       {deep, deep_body, std::string("{\"custom_id\":\"\xff\xfe\",\"method\":\"POST\"}"), std::string("\0\0\0", 3),
        std::string(R"({"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"tiny","n":1e999}})"),
        std::string(R"({"custom_id":"a","custom_id":"b"})"), std::string("\"just a string\""), std::string("null")}) {
    const auto errors = errors_of(hostile);
    ASSERT_FALSE(errors.empty()) << hostile.substr(0, 80);
    EXPECT_EQ(errors[0].line, 1);
  }
  EXPECT_EQ(errors_of(deep_body).at(0).message, "This line nests deeper than 64 levels.");
}

TEST(BatchInput, EveryTruncatedLineIsAnErrorAndMutationsNeverCrash) {
  const std::string good = line("abc", "some \"quoted\" text \\u00e9");
  for (size_t n = 1; n < good.size(); ++n) EXPECT_FALSE(errors_of(good.substr(0, n)).empty()) << n;
  std::mt19937 rng(11);
  const std::string symbols = "{}[]\":,\\\n\r0e-+ tnf\xff";
  for (int round = 0; round < 5000; ++round) {
    std::string m = good + "\n" + good;
    for (int e = 0; e < 3; ++e) m[rng() % m.size()] = symbols[rng() % symbols.size()];
    auto r = read_batch_input(m, kChat, kModels);
    if (r.is_ok()) {
      for (const auto& req : r->requests) EXPECT_FALSE(json::parse(req.body, nullptr, false).is_discarded());
    }
  }
}

}  // namespace
}  // namespace tokengrid::gateway
