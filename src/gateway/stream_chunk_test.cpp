#include "gateway/stream_chunk.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

struct Read {
  ChunkReading reading;
  std::string client;  // the chunk as a client with include_usage gets it
};

Read read(const std::string& text, std::vector<int32_t>& prompt_ids) {
  const auto chunk = json_scan::scan(text);
  EXPECT_TRUE(chunk && chunk->is_object()) << text;
  if (!chunk) return {};
  ChunkReading r = read_chunk(*chunk, prompt_ids);
  std::string client = client_chunk(*chunk, r, "chatcmpl-gw", true);
  return {std::move(r), std::move(client)};
}

TEST(StreamChunk, TokengridExtensionsAreReadAndStripped) {
  std::vector<int32_t> prompt;
  const Read r = read(R"({"id":"site-1","object":"chat.completion.chunk","prompt_token_ids":[1,2,3],)"
                      R"("choices":[{"index":0,"delta":{"content":"caf\u00e9"},"token_ids":[7,8],"finish_reason":null}]})",
                      prompt);
  EXPECT_EQ(prompt, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(r.reading.has_choices);
  EXPECT_TRUE(r.reading.has_content);
  EXPECT_TRUE(r.reading.ids_present);
  EXPECT_EQ(r.reading.ids, (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(r.reading.text, "caf\xc3\xa9");
  const json client = json::parse(r.client);
  EXPECT_EQ(client, json::parse(R"({"id":"chatcmpl-gw","object":"chat.completion.chunk",)"
                                R"("choices":[{"index":0,"delta":{"content":"café"},"finish_reason":null}],"usage":null})"));
}

TEST(StreamChunk, OpenAiChunksPassThroughWithOnlyTheIdRewritten) {
  std::vector<int32_t> prompt;
  const std::string site = R"({"id":"x","choices":[{"index":0,"text":" he said \"hi\"","logprobs":null}],"model":"m"})";
  const Read r = read(site, prompt);
  EXPECT_EQ(r.client, R"({"id":"chatcmpl-gw","choices":[{"index":0,"text":" he said \"hi\"","logprobs":null}],"model":"m","usage":null})");
  EXPECT_EQ(r.reading.text, " he said \"hi\"");
  EXPECT_FALSE(r.reading.ids_present);
  const auto chunk = json_scan::scan(site);
  EXPECT_EQ(client_chunk(*chunk, r.reading, "c", false), R"({"id":"c","choices":[{"index":0,"text":" he said \"hi\"","logprobs":null}],"model":"m"})");
}

TEST(StreamChunk, UsageChunkIsReadNotRelayed) {
  std::vector<int32_t> prompt;
  const Read r = read(R"({"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}})", prompt);
  EXPECT_FALSE(r.reading.has_choices);
  ASSERT_TRUE(r.reading.usage.has_value());
  EXPECT_EQ(r.reading.usage->prompt_tokens, 5);
  EXPECT_EQ(r.reading.usage->completion_tokens, 2);
}

TEST(StreamChunk, OnlyChoiceZeroIsDeliveredText) {
  std::vector<int32_t> prompt;
  const Read r = read(R"({"choices":[{"index":1,"delta":{"content":"b"},"token_ids":[2]},{"delta":{"content":"a"},"token_ids":[1]}]})",
                      prompt);
  EXPECT_EQ(r.reading.text, "a");
  EXPECT_EQ(r.reading.ids, (std::vector<int32_t>{1}));
  EXPECT_EQ(json::parse(r.client)["choices"], json::parse(R"([{"index":1,"delta":{"content":"b"}},{"delta":{"content":"a"}}])"));
}

TEST(StreamChunk, FinishReasonAndToolCallsCountAsContent) {
  std::vector<int32_t> prompt;
  EXPECT_TRUE(read(R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", prompt).reading.has_content);
  EXPECT_TRUE(read(R"({"choices":[{"index":0,"delta":{"tool_calls":[]}}]})", prompt).reading.has_content);
  EXPECT_FALSE(read(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})", prompt)
                   .reading.has_content);
}

TEST(StreamChunk, HostileFieldsAreIgnoredNotTrusted) {
  std::vector<int32_t> prompt;
  for (const char* text : {R"({"choices":5,"usage":7,"prompt_token_ids":"x"})", R"({"choices":[1,"x",null,[]]})",
                           R"({"choices":[{"index":"zero","delta":[],"token_ids":[-1]}]})",
                           R"({"choices":[{"index":0,"token_ids":[1.5,2]}]})",
                           R"({"choices":[{"index":0,"token_ids":[99999999999999999999]}]})",
                           R"({"choices":[{"index":0,"delta":{"content":7}}]})", "{}"}) {
    const Read r = read(text, prompt);
    EXPECT_FALSE(r.reading.ids_present) << text;
    EXPECT_TRUE(r.reading.text.empty()) << text;
    EXPECT_TRUE(json::accept(r.client)) << r.client;
  }
  EXPECT_TRUE(prompt.empty());
}

// An error in the stream is found in the same walk as the rest; the failing chunk's prompt ids
// are not taken for the request.
TEST(StreamChunk, AnErrorMemberIsReportedAndNothingElseIsRead) {
  std::vector<int32_t> prompt;
  const Read r = read(R"({"prompt_token_ids":[1,2],"choices":[{"index":0,"delta":{"content":"x"}}],"error":{"message":"boom"}})", prompt);
  EXPECT_TRUE(r.reading.has_error);
  EXPECT_FALSE(r.reading.has_choices);
  EXPECT_TRUE(prompt.empty());
  const Read fine = read(R"({"choices":[{"index":0,"delta":{"content":"x"}}],"errors":1})", prompt);
  EXPECT_FALSE(fine.reading.has_error);
  EXPECT_TRUE(fine.reading.has_choices);
}

}  // namespace
}  // namespace tokengrid::gateway
