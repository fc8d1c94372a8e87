#include "grid/yaml_fields.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "grid/clock.h"

namespace tokengrid::grid {
namespace {

std::string trimmed(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string scalar_or_note(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string("(not a scalar)"); }

}  // namespace

Status YamlFields::error(const YAML::Node& at, const std::string& field, const std::string& what) const {
  const int line = at.IsDefined() ? at.Mark().line + 1 : node_.Mark().line + 1;
  const std::string where = path_.empty() ? field : field.empty() ? path_ : path_ + "." + field;
  return invalid_argument(*file_ + ":" + std::to_string(line) + ": " + where + ": " + what);
}

Status YamlFields::expect_map(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsMap()) return error(node_, "", "must be a map of fields");
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (auto a : allowed) known |= a == key;
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return error(kv.first, key, "unknown field; expected one of: " + list);
    }
  }
  return Status::ok();
}

Result<std::string> YamlFields::string(const std::string& field) const {
  const YAML::Node n = node_[field];
  if (!n.IsDefined() || n.IsNull()) return error(field, "is required");
  if (!n.IsScalar() || n.Scalar().empty()) return error(field, "must be a non-empty string");
  return n.Scalar();
}

Result<std::string> YamlFields::optional_string(const std::string& field, std::string fallback) const {
  if (!has(field)) return fallback;
  return string(field);
}

Result<double> YamlFields::number(const std::string& field, double fallback, double lo, double hi) const {
  const YAML::Node n = node_[field];
  if (!n.IsDefined() || n.IsNull()) return fallback;
  double v;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
    return error(field, "'" + scalar_or_note(n) + "' is not a number");
  if (v < lo || v > hi)
    return error(field, "must be between " + trimmed(lo) + " and " + trimmed(hi) + ", got " + trimmed(v));
  return v;
}

Result<double> YamlFields::required_number(const std::string& field, double lo, double hi) const {
  if (!has(field)) return error(field, "is required");
  return number(field, 0, lo, hi);
}

Result<int64_t> YamlFields::integer(const std::string& field, int64_t lo, int64_t hi) const {
  const YAML::Node n = node_[field];
  if (!n.IsDefined() || n.IsNull()) return error(field, "is required");
  int64_t v;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v))
    return error(field, "'" + scalar_or_note(n) + "' is not an integer");
  if (v < lo || v > hi)
    return error(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                            std::to_string(v));
  return v;
}

Result<int64_t> YamlFields::optional_integer(const std::string& field, int64_t fallback, int64_t lo,
                                             int64_t hi) const {
  if (!has(field)) return fallback;
  return integer(field, lo, hi);
}

Result<bool> YamlFields::boolean(const std::string& field, bool fallback) const {
  const YAML::Node n = node_[field];
  if (!n.IsDefined() || n.IsNull()) return fallback;
  bool v;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
    return error(field, "'" + scalar_or_note(n) + "' is not true or false");
  return v;
}

Result<double> YamlFields::time(const std::string& field, double fallback) const {
  const YAML::Node n = node_[field];
  if (!n.IsDefined() || n.IsNull()) return fallback;
  if (!n.IsScalar()) return error(field, "must be a date such as 2030-01-01 or 2030-01-01T00:00Z");
  auto t = parse_utc_time(n.Scalar());
  if (!t.is_ok()) return error(field, t.status().message());
  return *t;
}

Result<double> YamlFields::required_time(const std::string& field) const {
  if (!has(field)) return error(field, "is required");
  return time(field, 0);
}

Result<std::vector<double>> YamlFields::numbers(const std::string& field, double lo, double hi) const {
  std::vector<double> out;
  if (!has(field)) return out;
  const YAML::Node list = node_[field];
  if (!list.IsSequence()) return error(field, "must be a list of numbers");
  for (size_t i = 0; i < list.size(); ++i) {
    const YamlFields item(list[i], indexed(child(field), i), *file_);
    double v;
    if (!list[i].IsScalar() || !YAML::convert<double>::decode(list[i], v) || !std::isfinite(v))
      return item.error(list[i], "", "'" + scalar_or_note(list[i]) + "' is not a number");
    if (v < lo || v > hi)
      return item.error(list[i], "", "must be between " + trimmed(lo) + " and " + trimmed(hi) + ", got " + trimmed(v));
    out.push_back(v);
  }
  return out;
}

Result<std::vector<YamlFields>> YamlFields::list(const std::string& field) const {
  std::vector<YamlFields> out;
  if (!has(field)) return out;
  const YAML::Node list = node_[field];
  if (!list.IsSequence()) return error(field, "must be a list");
  for (size_t i = 0; i < list.size(); ++i) out.emplace_back(list[i], indexed(child(field), i), *file_);
  return out;
}

std::string indexed(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Result<YAML::Node> parse_yaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
}

std::string resolve_path(const std::string& file, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty() || fs::path(path).is_absolute()) return path;
  const fs::path beside = fs::path(file).parent_path() / path;
  std::error_code ec;
  if (fs::exists(beside, ec) || !fs::exists(path, ec)) return beside.lexically_normal().string();
  return path;
}

}  // namespace tokengrid::grid
