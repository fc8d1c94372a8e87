#include "gateway/site_message.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kAnswer =
    R"({"id":"chatcmpl-site","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"h\u00e9llo \"you\"\n"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":4,)"
    R"("total_tokens":12},"created":1700000000})";

TEST(SiteMessage, ReadsIdUsageChoicesAndError) {
  auto m = read_site_message(kAnswer);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->id, "chatcmpl-site");
  EXPECT_EQ(m->usage, json::parse(R"({"prompt_tokens":8,"completion_tokens":4,"total_tokens":12})"));
  EXPECT_TRUE(m->has_choices);
  EXPECT_FALSE(m->has_error);

  auto usage_chunk = read_site_message(R"({"id":7,"choices":[],"usage":null})");
  ASSERT_TRUE(usage_chunk.is_ok());
  EXPECT_EQ(usage_chunk->id, "");
  EXPECT_TRUE(usage_chunk->usage.is_null());
  EXPECT_FALSE(usage_chunk->has_choices);

  auto error = read_site_message(R"({"error":{"message":"overloaded"}})");
  ASSERT_TRUE(error.is_ok());
  EXPECT_TRUE(error->has_error);
  EXPECT_FALSE(error->has_choices);
}

TEST(SiteMessage, TheLastOfARepeatedMemberCounts) {
  auto m = read_site_message(R"({"id":"a","usage":{"prompt_tokens":1},"id":"b","usage":{"prompt_tokens":2}})");
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->id, "b");
  EXPECT_EQ(m->usage["prompt_tokens"], 2);
}

TEST(SiteMessage, RewriteKeepsEveryOtherMemberAsTheSiteWroteIt) {
  const json id = "chatcmpl-gateway";
  const json usage = {{"prompt_tokens", 8}, {"site", "virginia"}, {"g_co2e", 0.25}};
  auto out = rewrite_site_message(kAnswer, {{"id", &id}, {"usage", &usage}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const json expected = [&] {
    json j = json::parse(kAnswer);
    j["id"] = id;
    j["usage"] = usage;
    return j;
  }();
  EXPECT_EQ(json::parse(*out), expected);  // same members, same order, same values
  EXPECT_EQ(out->find("chatcmpl-site"), std::string::npos);
}

TEST(SiteMessage, RewriteDropsAppendsAndWritesARepeatedMemberOnce) {
  const json id = "x";
  auto dropped = rewrite_site_message(R"({"a":1, "usage" : {"b":2}, "c":[true,null]})", {{"usage", nullptr}});
  ASSERT_TRUE(dropped.is_ok());
  EXPECT_EQ(*dropped, R"({"a":1,"c":[true,null]})");
  auto appended = rewrite_site_message("{}", {{"id", &id}, {"usage", nullptr}});
  ASSERT_TRUE(appended.is_ok());
  EXPECT_EQ(*appended, R"({"id":"x"})");
  auto once = rewrite_site_message(R"({"id":"a","b":2,"id":"c"})", {{"id", &id}});
  ASSERT_TRUE(once.is_ok());
  EXPECT_EQ(*once, R"({"id":"x","b":2})");
}

TEST(SiteMessage, KeysNeedingEscapesStayValid) {
  auto out = rewrite_site_message(R"({"a\"b":1,"\u0001":2,"caf\u00e9":3})", {});
  ASSERT_TRUE(out.is_ok());
  const json parsed = json::parse(*out);
  EXPECT_EQ(parsed["a\"b"], 1);
  EXPECT_EQ(parsed["\x01"], 2);
  EXPECT_EQ(parsed["caf\xc3\xa9"], 3);
}

TEST(SiteMessage, RefusesWhatIsNotOneJsonObject) {
  for (const char* bad : {"", "   ", "[1,2]", "\"text\"", "42", "null", "{", R"({"a":})", R"({"a":1,})", R"({"a":1} {"b":2})",
                          "{\"a\":\"\xff\"}", R"({"a":123456789012345678901234567890})", R"({'a':1})", "data: {}"}) {
    auto m = read_site_message(bad);
    EXPECT_FALSE(m.is_ok()) << bad;
    EXPECT_FALSE(rewrite_site_message(bad, {}).is_ok()) << bad;
  }
  EXPECT_NE(read_site_message("[1]").status().message().find("an array, not a JSON object"), std::string::npos);
  EXPECT_NE(read_site_message("{").status().message().find("not valid JSON"), std::string::npos);
}

TEST(SiteMessage, TruncatedAndCorruptedAnswersNeverCrash) {
  const std::string text = kAnswer;
  for (size_t cut = 0; cut < text.size(); ++cut) EXPECT_FALSE(read_site_message(text.substr(0, cut)).is_ok()) << cut;
  for (size_t i = 0; i < text.size(); ++i) {
    std::string t = text;
    t[i] = "{}[]:,\"\\\x01\xff"[i % 10];
    (void)read_site_message(t);
    (void)rewrite_site_message(t, {});
  }
  EXPECT_FALSE(read_site_message(std::string(5000, '[') + std::string(5000, ']')).is_ok());
  EXPECT_FALSE(read_site_message("{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}").is_ok());
}

TEST(SiteMessage, LargeDocumentsAndManyThreads) {
  std::string big = R"({"id":"big","choices":[{"text":")" + std::string(3u << 20, 'x') + R"("}]})";
  auto m = read_site_message(big);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->id, "big");
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        const json id = "gw-" + std::to_string(i);
        auto out = rewrite_site_message(kAnswer, {{"id", &id}});
        auto back = read_site_message(*out);
        if (back.is_ok() && back->id == id) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 2000);
}

}  // namespace
}  // namespace tokengrid::gateway
