#include "gateway/key_store.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

const std::string kTestHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";  // "test"

Result<std::vector<KeyEntry>> parse(const std::string& yaml) {
  return parse_keys(YAML::Load(yaml)["keys"], "grid.yaml");
}

// The error parsing `yaml` gives, which must contain `expected`.
void expect_error(const std::string& yaml, const std::string& expected) {
  auto keys = parse(yaml);
  ASSERT_FALSE(keys.is_ok()) << yaml;
  EXPECT_EQ(keys.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(keys.status().message().find(expected), std::string::npos) << keys.status().message();
}

http::HttpRequest request_with(const std::string& header, const std::string& value) {
  http::HttpRequest r;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  if (!header.empty()) r.headers.set(header, value);
  return r;
}

KeyStore two_keys() {
  auto store = KeyStore::from_entries({{"alice", sha256_hex("tg-alice"), KeyRole::kUser, "us-east", {}},
                                       {"ops", sha256_hex("tg-ops"), KeyRole::kAdmin, "", {}}});
  EXPECT_TRUE(store.is_ok()) << store.status().to_string();
  return std::move(store).value();
}

TEST(KeyHashTest, Sha256IsLowercaseHexOfTheBytes) {
  EXPECT_EQ(sha256_hex("test"), kTestHash);
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(KeyHashTest, NewKeysAreBase64UrlOf32RandomBytesAndDiffer) {
  auto a = new_api_key();
  auto b = new_api_key();
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_NE(*a, *b);
  ASSERT_EQ(a->size(), 3u + 43u);  // 32 bytes are 43 base64 digits without padding
  EXPECT_EQ(a->substr(0, 3), "tg-");
  for (char c : a->substr(3)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << c;
}

TEST(KeyStoreTest, BearerAndXApiKeyFindTheEntry) {
  const KeyStore store = two_keys();
  auto alice = store.lookup(request_with("Authorization", "Bearer tg-alice"));
  ASSERT_TRUE(alice.is_ok());
  EXPECT_EQ((*alice)->name, "alice");
  EXPECT_EQ((*alice)->region, "us-east");
  auto lower = store.lookup(request_with("authorization", "bearer   tg-ops  "));
  ASSERT_TRUE(lower.is_ok());
  EXPECT_EQ((*lower)->role, KeyRole::kAdmin);
  auto x = store.lookup(request_with("x-api-key", "tg-alice"));
  ASSERT_TRUE(x.is_ok());
  EXPECT_EQ((*x)->name, "alice");
}

TEST(KeyStoreTest, MissingMalformedAndUnknownKeysAreRefusedWithTheirCodes) {
  const KeyStore store = two_keys();
  auto missing = store.lookup(request_with("", ""));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.error().reason, KeyRefusal::Reason::kMissing);
  EXPECT_STREQ(missing.error().code(), "missing_api_key");
  EXPECT_NE(missing.error().message.find("Authorization: Bearer YOUR_KEY"), std::string::npos);
  for (const char* header : {"Basic dG9rZW4=", "Bearer", "Bearer    ", "tg-alice"}) {
    auto bad = store.lookup(request_with("Authorization", header));
    ASSERT_FALSE(bad.is_ok()) << header;
    EXPECT_EQ(bad.error().reason, KeyRefusal::Reason::kMalformed) << header;
    EXPECT_STREQ(bad.error().code(), "invalid_api_key");
  }
  auto unknown = store.lookup(request_with("Authorization", "Bearer tg-mallory"));
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.error().reason, KeyRefusal::Reason::kUnknown);
  EXPECT_EQ(unknown.error().message.find("tg-mallory"), std::string::npos);  // never echoed
  auto hash_as_key = store.lookup(request_with("Authorization", "Bearer " + sha256_hex("tg-alice")));
  EXPECT_FALSE(hash_as_key.is_ok());
}

TEST(KeyStoreTest, AnEmptyStoreLetsEveryRequestInAsTheAnonymousAdmin) {
  const KeyStore store;
  EXPECT_FALSE(store.enabled());
  auto any = store.lookup(request_with("", ""));
  ASSERT_TRUE(any.is_ok());
  EXPECT_EQ(*any, &KeyStore::anonymous());
  EXPECT_EQ((*any)->role, KeyRole::kAdmin);
  EXPECT_FALSE((*any)->limits.any());
}

TEST(KeyStoreTest, FromEntriesRefusesBadNamesHashesLimitsAndRepeats) {
  auto entry = [](std::string name, std::string hash) { return KeyEntry{name, hash, KeyRole::kUser, "", {}}; };
  EXPECT_NE(KeyStore::from_entries({entry("a b", kTestHash)}).status().message().find("a key name is 1 to 64"),
            std::string::npos);
  EXPECT_NE(KeyStore::from_entries({entry("a", "abc")}).status().message().find("64 hex digits, got 3"),
            std::string::npos);
  EXPECT_NE(KeyStore::from_entries({entry("a", kTestHash), entry("a", sha256_hex("x"))})
                .status().message().find("the name is used twice"),
            std::string::npos);
  std::string upper = kTestHash;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(KeyStore::from_entries({entry("a", kTestHash), entry("b", upper)})
                .status().message().find("the same sha256 as another key"),
            std::string::npos);
  KeyEntry negative = entry("a", kTestHash);
  negative.limits.wh_per_day = -1;
  EXPECT_NE(KeyStore::from_entries({negative}).status().message().find("wh_per_day must be above 0"),
            std::string::npos);
  auto lowered = KeyStore::from_entries({entry("a", upper)});
  ASSERT_TRUE(lowered.is_ok());
  EXPECT_EQ(lowered->entries()[0].sha256, kTestHash);
  ASSERT_NE(lowered->find("a"), nullptr);
  EXPECT_EQ(lowered->find("a")->sha256, kTestHash);
  EXPECT_EQ(lowered->find("b"), nullptr);
}

TEST(KeyYamlTest, ParsesTheDocumentedExample) {
  auto keys = parse("keys:\n"
                    "  - {name: alice, sha256: " + kTestHash + ", region: us-east, limits: {requests_per_minute: 600,"
                    " tokens_per_minute: 100000, wh_per_day: 50, g_co2e_per_day: 20}}\n"
                    "  - {name: ops, sha256: " + sha256_hex("ops") + ", role: admin}\n");
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  ASSERT_EQ(keys->size(), 2u);
  const KeyEntry& alice = (*keys)[0];
  EXPECT_EQ(alice.role, KeyRole::kUser);
  EXPECT_EQ(alice.region, "us-east");
  EXPECT_EQ(*alice.limits.requests_per_minute, 600);
  EXPECT_EQ(*alice.limits.tokens_per_minute, 100000);
  EXPECT_EQ(*alice.limits.wh_per_day, 50);
  EXPECT_EQ(*alice.limits.g_co2e_per_day, 20);
  EXPECT_EQ((*keys)[1].role, KeyRole::kAdmin);
  EXPECT_FALSE((*keys)[1].limits.any());
  EXPECT_TRUE(KeyStore::from_entries(*keys).is_ok());
}

TEST(KeyYamlTest, BadHashesAreRefusedWithoutEchoingThem) {
  expect_error("keys: [{name: a, sha256: 9f86d0}]", "grid.yaml:1: keys[0].sha256: must be the key's SHA-256 as 64 hex digits, got 6 characters");
  expect_error("keys: [{name: a, sha256: " + std::string(64, 'g') + "}]", "with some not hex");
  const std::string secret = "tg-" + std::string(43, 'Q');
  auto keys = parse("keys: [{name: a, sha256: " + secret + "}]");
  ASSERT_FALSE(keys.is_ok());
  EXPECT_NE(keys.status().message().find("that looks like the key itself"), std::string::npos);
  EXPECT_EQ(keys.status().message().find(secret), std::string::npos);
  expect_error("keys: [{name: a}]", "keys[0].sha256: is required");
}

TEST(KeyYamlTest, RepeatedNamesAndHashesNameBothEntriesAndTheLine) {
  expect_error("keys:\n  - {name: a, sha256: " + kTestHash + "}\n  - {name: a, sha256: " + sha256_hex("b") + "}\n",
               "grid.yaml:3: keys[1].name: key 'a' is defined twice (also keys[0])");
  expect_error("keys:\n  - {name: a, sha256: " + kTestHash + "}\n  - {name: b, sha256: " + kTestHash + "}\n",
               "grid.yaml:3: keys[1].sha256: the same hash as keys[0] (a): give each key its own secret");
}

TEST(KeyYamlTest, WrongTypesAndUnknownFieldsAreNamed) {
  const std::string h = ", sha256: " + kTestHash;
  expect_error("keys: {alice: 1}", "keys: must be a non-empty list");
  expect_error("keys: []", "leave the section out to run without authentication");
  expect_error("keys: [alice]", "keys[0]: must be a map of fields");
  expect_error("keys: [{name: [a, b]" + h + "}]", "keys[0].name: must be a non-empty string");
  expect_error("keys: [{name: 'a b'" + h + "}]", "keys[0].name: a key name is 1 to 64 of");
  expect_error("keys: [{name: a, sha256: {x: 1}}]", "keys[0].sha256: must be a non-empty string");
  expect_error("keys: [{name: a" + h + ", role: root}]", "keys[0].role: must be user or admin, got 'root'");
  expect_error("keys: [{name: a" + h + ", secret: x}]", "keys[0].secret: unknown field");
  expect_error("keys: [{name: a" + h + ", limits: 5}]", "keys[0].limits: must be a map of fields");
  expect_error("keys: [{name: a" + h + ", limits: {rpm: 5}}]", "keys[0].limits.rpm: unknown field");
  expect_error("keys: [{name: a" + h + ", limits: {wh_per_day: lots}}]", "keys[0].limits.wh_per_day: 'lots' is not a number");
}

TEST(KeyYamlTest, NegativeZeroAbsurdAndFractionalLimitsAreRefused) {
  const std::string pre = "keys: [{name: a, sha256: " + kTestHash + ", limits: {";
  expect_error(pre + "requests_per_minute: -5}}]", "limits.requests_per_minute: must be above 0, got -5; leave it out for no limit");
  expect_error(pre + "tokens_per_minute: 0}}]", "limits.tokens_per_minute: must be above 0, got 0");
  expect_error(pre + "wh_per_day: 1e20}}]", "limits.wh_per_day: must be at most 1000000000, got 1e+20");
  expect_error(pre + "g_co2e_per_day: .inf}}]", "limits.g_co2e_per_day:");
  expect_error(pre + "requests_per_minute: 1.5}}]", "limits.requests_per_minute: must be a whole number, got 1.5");
  auto ok = parse(pre + "wh_per_day: 0.25, g_co2e_per_day: 1e6}}]");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(*(*ok)[0].limits.wh_per_day, 0.25);
}

TEST(KeyYamlTest, TheLineForANewKeyParsesBack) {
  KeyEntry e{"build-bot", sha256_hex("tg-x"), KeyRole::kAdmin, "eu-west", {}};
  e.limits.tokens_per_minute = 250000;
  e.limits.wh_per_day = 12.5;
  const std::string line = key_yaml_line(e);
  EXPECT_EQ(line, "- {name: build-bot, sha256: " + e.sha256 +
                      ", role: admin, region: eu-west, limits: {tokens_per_minute: 250000, wh_per_day: 12.5}}");
  auto keys = parse("keys:\n  " + line + "\n");
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  EXPECT_EQ((*keys)[0].name, "build-bot");
  EXPECT_EQ((*keys)[0].role, KeyRole::kAdmin);
  EXPECT_EQ(*(*keys)[0].limits.wh_per_day, 12.5);
}

TEST(KeyNameTest, NamesAreShortAndPlain) {
  EXPECT_TRUE(check_key_name("alice@example.com").is_ok());
  EXPECT_TRUE(check_key_name("team_a-1.prod").is_ok());
  EXPECT_FALSE(check_key_name("").is_ok());
  EXPECT_FALSE(check_key_name(std::string(65, 'a')).is_ok());
  EXPECT_FALSE(check_key_name("a\"b").is_ok());
  EXPECT_FALSE(check_key_name("a\nb").is_ok());
}

}  // namespace
}  // namespace tokengrid::gateway

namespace tokengrid::gateway {
namespace {

http::HttpRequest with_key(const std::string& key) {
  http::HttpRequest r;
  r.headers.set("Authorization", "Bearer " + key);
  return r;
}

TEST(SharedKeysTest, AddReplaceAndRevokeWhileEntriesHandedOutStayValid) {
  auto store = KeyStore::from_entries({{"ops", sha256_hex("tg-ops"), KeyRole::kAdmin, "", {}}});
  ASSERT_TRUE(store.is_ok());
  ASSERT_TRUE(store->put_shared({"bob", sha256_hex("tg-bob-1"), KeyRole::kUser, "eu", {}}).is_ok());
  auto bob = store->lookup(with_key("tg-bob-1"));
  ASSERT_TRUE(bob.is_ok());
  const KeyEntry* first = *bob;
  EXPECT_TRUE(store->is_shared("bob"));
  EXPECT_FALSE(store->is_shared("ops"));

  // A new secret for bob: the old one stops working, the entry a request holds does not move.
  ASSERT_TRUE(store->put_shared({"bob", sha256_hex("tg-bob-2"), KeyRole::kUser, "us", {}}).is_ok());
  EXPECT_FALSE(store->lookup(with_key("tg-bob-1")).is_ok());
  ASSERT_TRUE(store->lookup(with_key("tg-bob-2")).is_ok());
  EXPECT_EQ(first->region, "eu");
  EXPECT_EQ(store->find("bob")->region, "us");
  EXPECT_EQ(store->entries().size(), 2u);

  EXPECT_TRUE(store->erase_shared("bob"));
  EXPECT_FALSE(store->erase_shared("bob"));
  EXPECT_FALSE(store->erase_shared("ops")) << "the grid file's keys are not revoked here";
  EXPECT_FALSE(store->lookup(with_key("tg-bob-2")).is_ok());
  EXPECT_EQ(store->find("bob"), nullptr);
  EXPECT_EQ(first->name, "bob");
}

TEST(SharedKeysTest, RefusesWhatWouldShadowOrDuplicateAKey) {
  auto store = KeyStore::from_entries({{"ops", sha256_hex("tg-ops"), KeyRole::kAdmin, "", {}}});
  ASSERT_TRUE(store.is_ok());
  EXPECT_NE(store->put_shared({"ops", sha256_hex("tg-other"), KeyRole::kAdmin, "", {}}).message().find("grid file"),
            std::string::npos);
  EXPECT_NE(store->put_shared({"eve", sha256_hex("tg-ops"), KeyRole::kUser, "", {}}).message().find("same sha256"),
            std::string::npos);
  EXPECT_FALSE(store->put_shared({"bad name!", sha256_hex("x"), KeyRole::kUser, "", {}}).is_ok());
  KeyEntry negative{"neg", sha256_hex("y"), KeyRole::kUser, "", {}};
  negative.limits.tokens_per_minute = -5;
  EXPECT_FALSE(store->put_shared(negative).is_ok());
  EXPECT_EQ(store->entries().size(), 1u);
}

TEST(SharedKeysTest, AStoreWithoutKeysTurnsAuthenticationOnWithItsFirstSharedKey) {
  KeyStore store;
  EXPECT_FALSE(store.enabled());
  EXPECT_EQ(*store.lookup(with_key("anything")), &KeyStore::anonymous());
  ASSERT_TRUE(store.put_shared({"first", sha256_hex("tg-first"), KeyRole::kAdmin, "", {}}).is_ok());
  EXPECT_TRUE(store.enabled());
  EXPECT_FALSE(store.lookup(with_key("anything")).is_ok());
}

TEST(KeyEntryJsonTest, RoundTripsAndRefusesHostileText) {
  KeyEntry e{"alice", sha256_hex("tg-a"), KeyRole::kAdmin, "us-east", {}};
  e.limits.requests_per_minute = 600;
  e.limits.g_co2e_per_day = 2.5;
  auto back = parse_key_entry_json(key_entry_json(e), "test");
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->name, "alice");
  EXPECT_EQ(back->role, KeyRole::kAdmin);
  EXPECT_EQ(back->region, "us-east");
  EXPECT_EQ(back->limits.requests_per_minute, 600);
  EXPECT_EQ(back->limits.g_co2e_per_day, 2.5);
  const std::string full = key_entry_json(e);
  for (size_t cut = 0; cut < full.size(); cut += 7) EXPECT_FALSE(parse_key_entry_json(full.substr(0, cut), "test").is_ok()) << cut;
  for (const std::string& hostile : {std::string(100000, '['), std::string("[1,2]"), std::string("\"x\""),
                                     std::string(R"({"name":"a","sha256":"tg-secret"})"),
                                     std::string(R"({"name":"a","sha256":")") + sha256_hex("z") + R"(","extra":1})",
                                     std::string(R"({"name":"a","sha256":")") + sha256_hex("z") + R"(","role":"root"})"}) {
    auto parsed = parse_key_entry_json(hostile, "etcd keys/a");
    EXPECT_FALSE(parsed.is_ok()) << hostile.substr(0, 60);
    if (!parsed.is_ok()) EXPECT_NE(parsed.status().message().find("etcd keys/a"), std::string::npos) << parsed.status().message();
  }
}

}  // namespace
}  // namespace tokengrid::gateway
