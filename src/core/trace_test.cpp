#include "core/trace.h"

#include <gtest/gtest.h>

#include "core/test_data.h"

#include <filesystem>

namespace tokengrid {
namespace {

const char* kAzure =
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:17:03.9799600,4808,10\n"
    "2023-11-16 18:17:04.0319600,3180,8\r\n"
    "\n"
    "2023-11-16 18:17:02.5,100,0\n";

TEST(AzureCsv, ParsesSortsAndRebasesArrivals) {
  auto trace = parse_azure_csv(kAzure, "a.csv");
  ASSERT_TRUE(trace.is_ok()) << trace.status().to_string();
  ASSERT_EQ(trace->requests.size(), 3u);
  EXPECT_DOUBLE_EQ(trace->requests[0].arrival_s, 0.0);
  EXPECT_EQ(trace->requests[0].input_tokens, 100);
  EXPECT_EQ(trace->requests[0].output_tokens, 1);  // 0 generated reads as 1
  EXPECT_NEAR(trace->requests[1].arrival_s, 1.47996, 1e-6);
  EXPECT_NEAR(trace->requests[2].arrival_s, 1.53196, 1e-6);
  EXPECT_NEAR(trace->duration_s, 1.53196, 1e-6);
}

TEST(AzureCsv, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"", "empty file"},
      {"time,a,b\n", "a.csv:1"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,48", "a.csv:2"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10,5\n2023-11-16 18:1", "a.csv:3"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-16 18:17:03.97,10,5\n", "TIMESTAMP"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,-10,5\n", "ContextTokens"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10,5x\n", "GeneratedTokens"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,0,5\n", "input token count 0"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,99999999999999999999,5\n",
       "ContextTokens"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10,5,7\n", "3 comma"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n", "no requests"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n\x01\xff\xfe,\x80,\n", "a.csv:2"},
  };
  for (const Case& c : cases) {
    auto trace = parse_azure_csv(c.text, "a.csv");
    ASSERT_FALSE(trace.is_ok()) << c.text;
    EXPECT_NE(trace.status().message().find(c.expect), std::string::npos)
        << trace.status().message() << " for " << c.text;
  }
}

TEST(MooncakeJsonl, KeepsBlockIds) {
  const char* text =
      "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, 2]}\n"
      "{\"timestamp\": 1500, \"input_length\": 700, \"output_length\": 5, \"hash_ids\": [0, 1, 9]}\n"
      "{\"timestamp\": 2000, \"input_length\": 70, \"output_length\": 5, \"hash_ids\": [0, 4]}\n"
      "{\"timestamp\": 2500, \"input_length\": 70, \"output_length\": 5}\n";
  auto trace = parse_mooncake_jsonl(text, "m.jsonl");
  ASSERT_TRUE(trace.is_ok()) << trace.status().to_string();
  ASSERT_EQ(trace->requests.size(), 4u);
  EXPECT_DOUBLE_EQ(trace->requests[1].arrival_s, 1.5);
  EXPECT_EQ(trace->requests[0].hash_ids, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(trace->requests[2].hash_ids, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(trace->requests[3].hash_ids.empty());
  EXPECT_NEAR(trace->mean_rate(), 3 / 2.5, 1e-12);
}

TEST(MooncakeJsonl, ErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5}\n{\"timestamp\": 1, \"inp", "m.jsonl:2"},
      {"[1,2,3]\n", "m.jsonl:1: not a JSON object"},
      {"{\"timestamp\": 0, \"output_length\": 5}\n", "'input_length' is missing"},
      {"{\"timestamp\": -4, \"input_length\": 5, \"output_length\": 5}\n", "'timestamp' must be"},
      {"{\"timestamp\": 0, \"input_length\": \"5\", \"output_length\": 5}\n", "'input_length' must be"},
      {"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5, \"hash_ids\": 3}\n", "'hash_ids'"},
      {"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5, \"hash_ids\": [\"x\"]}\n", "non-integer"},
      {"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5, \"hash_ids\": [-3]}\n", "negative"},
      {"{\"timestamp\": 1e300, \"input_length\": 5, \"output_length\": 5}\n", "'timestamp'"},
      // Above INT64_MAX: these once wrapped to negative values and were taken as -1 ms and id -1.
      {"{\"timestamp\": 18446744073709551615, \"input_length\": 5, \"output_length\": 5}\n", "'timestamp' must be"},
      {"{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 5, \"hash_ids\": [9223372036854775808]}\n",
       "negative"},
      {"\n\n", "no requests"},
  };
  for (const Case& c : cases) {
    auto trace = parse_mooncake_jsonl(c.text, "m.jsonl");
    ASSERT_FALSE(trace.is_ok()) << c.text;
    EXPECT_NE(trace.status().message().find(c.expect), std::string::npos)
        << trace.status().message() << " for " << c.text;
  }
}

TEST(MooncakeJsonl, EveryTruncationIsRejected) {
  std::string good = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [0]}\n";
  for (size_t cut = 1; cut + 1 < good.size(); ++cut) {
    EXPECT_FALSE(parse_mooncake_jsonl(good.substr(0, cut), "m.jsonl").is_ok()) << cut;
  }
}

TEST(Traces, GarbageIsAnErrorNotACrash) {
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage += static_cast<char>((i * 7919 + 13) % 256);
  EXPECT_FALSE(parse_azure_csv(garbage, "g.csv").is_ok());
  EXPECT_FALSE(parse_mooncake_jsonl(garbage, "g.jsonl").is_ok());
  EXPECT_FALSE(parse_mooncake_jsonl("{" + garbage, "g.jsonl").is_ok());
}

TEST(ReadTrace, RealFilesLoad) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("traces/azure_llm_2023_code.csv");
  const std::string dir = test_data::shared_data("traces/");
  auto azure = read_trace(dir + "azure_llm_2023_code.csv");
  ASSERT_TRUE(azure.is_ok()) << azure.status().to_string();
  EXPECT_EQ(azure->requests.size(), 8819u);
  EXPECT_NEAR(azure->duration_s, 3436, 5);
  auto moon = read_trace(dir + "mooncake_conversation.jsonl");
  ASSERT_TRUE(moon.is_ok()) << moon.status().to_string();
  EXPECT_EQ(moon->requests.size(), 12031u);
  EXPECT_FALSE(moon->requests.front().hash_ids.empty());
  EXPECT_FALSE(read_trace(dir + "missing.csv").is_ok());
  EXPECT_FALSE(read_trace(test_data::shared_data("README.md")).is_ok());
}

}  // namespace
}  // namespace tokengrid
