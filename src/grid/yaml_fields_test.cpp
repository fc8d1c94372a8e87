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

}  // namespace
}  // namespace tokengrid::grid
