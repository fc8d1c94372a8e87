#include "serve/load_trace.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tokengrid::serve {
namespace {

TEST(LoadTrace, AzureCsv) {
  auto r = parse_azure_csv(
      "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
      "2023-11-16 18:17:04.5000000,100,10\r\n"
      "2023-11-16 18:17:03.9799600,4808,7\r\n"
      "2023-11-16 23:59:59.0000000,1,0\n"
      "2023-11-17 00:00:01.0000000,5,5\n");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_DOUBLE_EQ((*r)[0].arrival_s, 0.0);
  EXPECT_EQ((*r)[0].input_tokens, 4808);
  EXPECT_EQ((*r)[0].output_tokens, 7);
  EXPECT_NEAR((*r)[1].arrival_s, 0.52004, 1e-6);
  // Across midnight.
  EXPECT_NEAR((*r)[3].arrival_s - (*r)[2].arrival_s, 2.0, 1e-6);
}

TEST(LoadTrace, MooncakeJsonl) {
  auto r = parse_mooncake_jsonl(
      "{\"timestamp\": 1500, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [0, 1]}\n"
      "\n"
      "{\"timestamp\": 500, \"input_length\": 600, \"output_length\": 3, \"hash_ids\": [0, 2]}\n");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_DOUBLE_EQ((*r)[0].arrival_s, 0.0);
  EXPECT_DOUBLE_EQ((*r)[1].arrival_s, 1.0);
  EXPECT_EQ((*r)[0].hash_ids, (std::vector<int64_t>{0, 2}));
}

TEST(LoadTrace, MalformedInputNamesTheLine) {
  const char* bad_csv[] = {
      "",
      "no header\n2023-11-16 18:17:04,1,1\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,1\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,1,2,3\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-16 18:17:04,1,2\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,-1,2\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,1,99999999999\n",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04 junk,1,2\n",
  };
  for (const char* text : bad_csv) {
    auto r = parse_azure_csv(text);
    EXPECT_FALSE(r.is_ok()) << text;
  }
  auto line = parse_azure_csv("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,1,1\nx,1,1\n");
  ASSERT_FALSE(line.is_ok());
  EXPECT_NE(line.status().message().find("line 3"), std::string::npos);

  const char* bad_jsonl[] = {
      "",
      "[1,2]\n",
      "{\"timestamp\": 1}\n",
      "{\"timestamp\": \"a\", \"input_length\": 1, \"output_length\": 1}\n",
      "{\"timestamp\": 1, \"input_length\": -1, \"output_length\": 1}\n",
      "{\"timestamp\": 1, \"input_length\": 1.5, \"output_length\": 1}\n",
      "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [\"x\"]}\n",
      "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": 3}\n",
      "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1}\n{\"timestamp\"",
  };
  for (const char* text : bad_jsonl) {
    EXPECT_FALSE(parse_mooncake_jsonl(text).is_ok()) << text;
  }
}

TEST(LoadTrace, TruncatedFilesAreRejectedOrShorter) {
  std::string good = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [0]}\n";
  for (size_t cut = 1; cut + 1 < good.size(); ++cut) {
    auto r = parse_mooncake_jsonl(good.substr(0, cut));
    EXPECT_FALSE(r.is_ok()) << cut;
  }
}

TEST(LoadTrace, GarbageDoesNotCrash) {
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage += static_cast<char>((i * 7919 + 13) % 256);
  EXPECT_FALSE(parse_azure_csv(garbage).is_ok());
  EXPECT_FALSE(parse_mooncake_jsonl(garbage).is_ok());
  EXPECT_FALSE(parse_mooncake_jsonl("{" + garbage).is_ok());
}

TEST(LoadTrace, LoadsTheSharedTraces) {
  std::string dir = std::string(TOKENGRID_SHARED_DATA) + "/traces/";
  if (!std::filesystem::exists(dir + "mooncake_conversation.jsonl")) {
    GTEST_SKIP() << "shared traces not found in " << dir;
  }
  auto mooncake = load_trace(dir + "mooncake_conversation.jsonl");
  ASSERT_TRUE(mooncake.is_ok()) << mooncake.status().to_string();
  EXPECT_GT(mooncake->size(), 10000u);
  EXPECT_FALSE(mooncake->front().hash_ids.empty());
  auto azure = load_trace(dir + "azure_llm_2023_code.csv");
  ASSERT_TRUE(azure.is_ok()) << azure.status().to_string();
  EXPECT_GT(azure->size(), 8000u);
  EXPECT_LT(azure->back().arrival_s, 4000.0);
  EXPECT_FALSE(load_trace(dir + "does-not-exist.csv").is_ok());
}

}  // namespace
}  // namespace tokengrid::serve
