#include "grid/yaml_fields.h"

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

TEST(YamlFields, ReadsEachKindAndKeepsFallbacks) {
  const std::string file = "grid.yaml";
  YAML::Node node = YAML::Load("name: a\nspeed: 2.5\ncount: 3\non: true\nat: 2024-07-01\n");
  YamlFields f(node, "site", file);
  ASSERT_TRUE(f.expect_map({"name", "speed", "count", "on", "at"}).is_ok());
  EXPECT_EQ(*f.string("name"), "a");
  EXPECT_EQ(*f.optional_string("missing", "dflt"), "dflt");
  EXPECT_DOUBLE_EQ(*f.number("speed", 1, 0, 10), 2.5);
  EXPECT_DOUBLE_EQ(*f.number("missing", 7, 0, 10), 7);
  EXPECT_EQ(*f.integer("count", 1, 5), 3);
  EXPECT_TRUE(*f.boolean("on", false));
  EXPECT_FALSE(*f.boolean("missing", false));
  EXPECT_DOUBLE_EQ(*f.time("at", 0), 1719792000);
}

TEST(YamlFields, ErrorsNameFileLineAndField) {
  const std::string file = "grid.yaml";
  YAML::Node node = YAML::Load("name: a\nspeed: fast\non: maybe\ncount: 9\nextra: 1\n");
  YamlFields f(node, "sites[0]", file);
  EXPECT_EQ(f.number("speed", 1, 0, 10).status().message(), "grid.yaml:2: sites[0].speed: 'fast' is not a number");
  EXPECT_EQ(f.boolean("on", false).status().message(), "grid.yaml:3: sites[0].on: 'maybe' is not true or false");
  EXPECT_EQ(f.integer("count", 1, 5).status().message(), "grid.yaml:4: sites[0].count: must be between 1 and 5, got 9");
  EXPECT_EQ(f.integer("absent", 1, 5).status().message(), "grid.yaml:1: sites[0].absent: is required");
  EXPECT_NE(f.expect_map({"name", "speed", "on", "count"}).message().find("sites[0].extra: unknown field"),
            std::string::npos);
}

TEST(YamlFields, NonMapsAndNestedValuesAreErrorsNotCrashes) {
  const std::string file = "f.yaml";
  YAML::Node seq = YAML::Load("[1, 2]");
  EXPECT_FALSE(YamlFields(seq, "policy", file).expect_map({"a"}).is_ok());
  YAML::Node nested = YAML::Load("name: {a: 1}\nn: [1]\n");
  YamlFields f(nested, "x", file);
  EXPECT_FALSE(f.string("name").is_ok());
  EXPECT_FALSE(f.number("n", 0, 0, 1).is_ok());
  EXPECT_FALSE(f.boolean("n", false).is_ok());
  EXPECT_FALSE(f.time("n", 0).is_ok());
}

TEST(YamlFields, RequiredFieldsListsAndNestedMaps) {
  const std::string file = "s.yaml";
  YAML::Node node = YAML::Load(
      "rate: 4\nseed: 9007199254740992\nfrom: 2024-07-01\nshape: [1, 0.5]\n"
      "outages:\n  - {site: a}\n  - {site: b}\nslo: {ttft_s: 2}\n");
  YamlFields f(node, "", file);
  EXPECT_DOUBLE_EQ(*f.required_number("rate", 0, 10), 4);
  EXPECT_EQ(f.required_number("absent", 0, 10).status().message(), "s.yaml:1: absent: is required");
  EXPECT_EQ(*f.integer("seed", 0, int64_t{1} << 53), int64_t{1} << 53);
  EXPECT_EQ(*f.optional_integer("absent", 7, 0, 10), 7);
  EXPECT_DOUBLE_EQ(*f.required_time("from"), 1719792000);
  EXPECT_FALSE(f.required_time("absent").is_ok());
  EXPECT_EQ(*f.numbers("shape", 0, 1), (std::vector<double>{1, 0.5}));
  EXPECT_TRUE(f.numbers("absent", 0, 1)->empty());
  EXPECT_EQ(f.numbers("shape", 0, 0.9).status().message(), "s.yaml:4: shape[0]: must be between 0 and 0.9, got 1");
  auto outages = f.list("outages");
  ASSERT_TRUE(outages.is_ok());
  ASSERT_EQ(outages->size(), 2u);
  EXPECT_EQ(*(*outages)[1].string("site"), "b");
  EXPECT_EQ((*outages)[1].string("from").status().message(), "s.yaml:7: outages[1].from: is required");
  EXPECT_TRUE(f.list("absent")->empty());
  EXPECT_EQ(f.list("rate").status().message(), "s.yaml:1: rate: must be a list");
  YamlFields slo = f.map("slo");
  EXPECT_TRUE(slo.expect_map({"ttft_s"}).is_ok());
  EXPECT_DOUBLE_EQ(*slo.number("tpot_s", 1.5, 1, 2), 1.5);
  EXPECT_EQ(slo.required_number("tpot_s", 1, 2).status().message(), "s.yaml:8: slo.tpot_s: is required");
}

TEST(YamlFields, ParseYamlNamesTheLineOfASyntaxError) {
  EXPECT_TRUE(parse_yaml("a: 1\n", "f.yaml").is_ok());
  auto bad = parse_yaml("a: 1\nb: [\n", "f.yaml");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message().rfind("f.yaml:", 0), 0u) << bad.status().message();
  EXPECT_NE(bad.status().message().find("not valid YAML"), std::string::npos);
}

TEST(YamlFields, ReadYamlTurnsAConversionThatThrowsIntoAnError) {
  auto read_a = [](const YAML::Node& root) -> Result<int> { return root["a"].as<int>(); };
  EXPECT_EQ(*read_yaml("a: 4\n", "f.yaml", read_a), 4);
  auto wrong = read_yaml("b: 1\na: four\n", "f.yaml", read_a);
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.status().message().rfind("f.yaml:2: ", 0), 0u) << wrong.status().message();
  EXPECT_FALSE(read_yaml("a: [\n", "f.yaml", read_a).is_ok());
}

}  // namespace
}  // namespace tokengrid::grid
