// YamlFields: reads the fields of one YAML map for the grid's configuration files (grid file,
// scenario, planner input), so that every error names the file, the line and the field path
// ("grid.yaml:12: sites[1].power_cap_kw: must be between 0 and 1e+09, got -5").
//
// Absent and null fields are the same ("not given"); required fields say so; unknown fields
// are errors (expect_map), so a misspelt field is never silently ignored.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/status.h"

namespace tokengrid::grid {

class YamlFields {
 public:
  // `node` should be a map; `path` names it in errors ("sites[1]"); `file` must outlive this.
  YamlFields(const YAML::Node& node, std::string path, const std::string& file)
      : node_(node), path_(std::move(path)), file_(&file) {}

  Status error(const YAML::Node& at, const std::string& field, const std::string& what) const;
  Status error(const std::string& field, const std::string& what) const { return error(node_[field], field, what); }

  // The node is a map whose keys are all in `allowed`.
  Status expect_map(std::initializer_list<std::string_view> allowed) const;
  bool has(const std::string& field) const { return node_[field].IsDefined() && !node_[field].IsNull(); }

  // A required non-empty scalar.
  Result<std::string> string(const std::string& field) const;
  // An optional string: `fallback` when absent.
  Result<std::string> optional_string(const std::string& field, std::string fallback) const;
  // An optional finite number in [lo, hi]: `fallback` when absent.
  Result<double> number(const std::string& field, double fallback, double lo, double hi) const;
  // A required finite number in [lo, hi].
  Result<double> required_number(const std::string& field, double lo, double hi) const;
  // A required integer in [lo, hi].
  Result<int64_t> integer(const std::string& field, int64_t lo, int64_t hi) const;
  // An optional integer in [lo, hi]: `fallback` when absent.
  Result<int64_t> optional_integer(const std::string& field, int64_t fallback, int64_t lo, int64_t hi) const;
  // An optional boolean: `fallback` when absent.
  Result<bool> boolean(const std::string& field, bool fallback) const;
  // An optional UTC time (clock.h's formats): `fallback` when absent.
  Result<double> time(const std::string& field, double fallback) const;
  // A required UTC time.
  Result<double> required_time(const std::string& field) const;
  // An optional list of finite numbers in [lo, hi]; empty when absent.
  Result<std::vector<double>> numbers(const std::string& field, double lo, double hi) const;

  // The fields of the nested map `field` (check it with expect_map).
  YamlFields map(const std::string& field) const { return YamlFields(node_[field], child(field), *file_); }
  // The fields of each map of the optional list `field` ("field[i]"); empty when absent.
  Result<std::vector<YamlFields>> list(const std::string& field) const;

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  // "path.field", or "path[i]" for an element of a sequence field.
  std::string child(const std::string& field) const { return path_.empty() ? field : path_ + "." + field; }

 private:
  YAML::Node node_;
  std::string path_;
  const std::string* file_;
};

// "path[i]".
std::string indexed(const std::string& path, size_t i);

// The YAML document in `text`; a syntax error names `file` and the line.
Result<YAML::Node> parse_yaml(const std::string& text, const std::string& file);

// read(document) for the YAML document in `text`: a syntax error, or a node that yaml-cpp
// refuses to read as asked (a YAML::Exception), becomes an error naming `file` and the line.
template <typename Read>
auto read_yaml(const std::string& text, const std::string& file, Read read) -> decltype(read(YAML::Node())) {
  TG_ASSIGN_OR_RETURN(YAML::Node root, parse_yaml(text, file));
  try {
    return read(root);
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

// A path written in the configuration file `file`: relative paths are taken from the file's
// directory, falling back to the working directory when only that has it.
std::string resolve_path(const std::string& file, const std::string& path);

}  // namespace tokengrid::grid
