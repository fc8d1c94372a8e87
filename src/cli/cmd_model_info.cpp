// `tokengrid model info MODEL [--json] [--full]`: what a GGUF file holds.
#include <CLI/CLI.hpp>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/model_commands.h"
#include "engine/gguf.h"
#include "engine/tensor_type.h"

namespace tokengrid::cli {
namespace {

using engine::GgufFile;
using engine::GgufValue;
using engine::GgufValueType;
using Json = nlohmann::ordered_json;

constexpr size_t kSummaryItems = 8;

struct TypeTotals {
  int tensors = 0;
  int64_t elements = 0;
  uint64_t bytes = 0;
};

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string value_type_label(const GgufValue& v) {
  if (v.type != GgufValueType::kArray) return engine::gguf_value_type_name(v.type);
  return "[" + engine::gguf_value_type_name(v.element_type) + "]";
}

std::string dims_label(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

Json value_json(const GgufValue& v, bool full) {
  switch (v.type) {
    case GgufValueType::kBool: return v.uint_value != 0;
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return std::isfinite(v.float_value) ? Json(v.float_value) : Json(v.to_string());
    case GgufValueType::kString: return v.string_value;
    case GgufValueType::kArray: {
      size_t shown = full ? v.array.size() : std::min(v.array.size(), kSummaryItems);
      Json items = Json::array();
      for (size_t i = 0; i < shown; ++i) items.push_back(value_json(v.array[i], full));
      if (shown == v.array.size()) return items;
      return Json{{"element_type", engine::gguf_value_type_name(v.element_type)},
                  {"count", v.array.size()},
                  {"first", std::move(items)}};
    }
    case GgufValueType::kInt8:
    case GgufValueType::kInt16:
    case GgufValueType::kInt32:
    case GgufValueType::kInt64: return v.int_value;
    default: return v.uint_value;
  }
}

std::map<std::string, TypeTotals> totals_by_type(const GgufFile& file) {
  std::map<std::string, TypeTotals> totals;
  for (const auto& t : file.tensors()) {
    TypeTotals& s = totals[engine::type_name(t.type_id)];
    s.tensors++;
    s.elements += t.n_elements;
    s.bytes += t.n_bytes;
  }
  return totals;
}

void print_json(const GgufFile& file, bool full) {
  Json j;
  j["file"] = file.name();
  j["version"] = file.version();
  j["alignment"] = file.alignment();
  j["data_offset"] = file.data_offset();
  j["file_size"] = file.file_size();
  Json metadata = Json::object();
  for (const auto& [key, value] : file.metadata()) metadata[key] = value_json(value, full);
  j["metadata"] = std::move(metadata);
  Json tensors = Json::array();
  int64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  for (const auto& t : file.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", engine::type_name(t.type_id)},
                       {"dims", t.dims},
                       {"elements", t.n_elements},
                       {"offset", t.offset},
                       {"bytes", t.n_bytes}});
    parameters += t.n_elements;
    tensor_bytes += t.n_bytes;
  }
  j["tensors"] = std::move(tensors);
  j["parameters"] = parameters;
  j["tensor_bytes"] = tensor_bytes;
  Json by_type = Json::object();
  for (const auto& [name, s] : totals_by_type(file)) {
    by_type[name] = {{"tensors", s.tensors}, {"parameters", s.elements}, {"bytes", s.bytes}};
  }
  j["by_type"] = std::move(by_type);
  std::printf("%s\n", j.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
}

void print_text(const GgufFile& file, bool full) {
  std::printf("%s: GGUF version %u, alignment %zu, %zu metadata keys, %zu tensors, %s bytes\n",
              file.name().c_str(), file.version(), file.alignment(), file.metadata().size(),
              file.tensors().size(), with_commas(file.file_size()).c_str());
  std::printf("\nmetadata:\n");
  size_t key_width = 0;
  for (const auto& [key, value] : file.metadata()) key_width = std::max(key_width, key.size());
  for (const auto& [key, value] : file.metadata()) {
    std::string text = value.to_string(full ? SIZE_MAX : kSummaryItems);
    std::printf("  %-*s  %-10s %s\n", static_cast<int>(key_width), key.c_str(),
                value_type_label(value).c_str(), text.c_str());
  }
  std::printf("\ntensors:\n");
  size_t name_width = 4;
  for (const auto& t : file.tensors()) name_width = std::max(name_width, t.name.size());
  std::printf("  %-*s  %-6s %-22s %14s\n", static_cast<int>(name_width), "name", "type", "dims", "bytes");
  int64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  for (const auto& t : file.tensors()) {
    std::printf("  %-*s  %-6s %-22s %14s\n", static_cast<int>(name_width), t.name.c_str(),
                engine::type_name(t.type_id).c_str(), dims_label(t.dims).c_str(),
                with_commas(t.n_bytes).c_str());
    parameters += t.n_elements;
    tensor_bytes += t.n_bytes;
  }
  std::printf("\nparameters: %s in %zu tensors, %s bytes of tensor data\n",
              with_commas(static_cast<uint64_t>(parameters)).c_str(), file.tensors().size(),
              with_commas(tensor_bytes).c_str());
  std::printf("by type:\n");
  for (const auto& [name, s] : totals_by_type(file)) {
    std::printf("  %-6s %5d tensors %16s parameters %16s bytes\n", name.c_str(), s.tensors,
                with_commas(static_cast<uint64_t>(s.elements)).c_str(), with_commas(s.bytes).c_str());
  }
}

}  // namespace

int run_model_info(int argc, char** argv) {
  CLI::App app{"Shows a GGUF file's version, metadata (long arrays summarised), tensor table, "
               "parameter count and bytes by tensor type.",
               argv[0]};
  std::string path;
  bool json = false;
  bool full = false;
  app.add_option("MODEL", path, "GGUF model file")->required();
  app.add_flag("--json", json, "print one JSON object instead of text");
  app.add_flag("--full", full, "print every element of long metadata arrays");
  CLI11_PARSE(app, argc, argv);

  auto file = GgufFile::open(path);
  if (!file.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], file.status().message().c_str());
    return 1;
  }
  if (json) {
    print_json(*file, full);
  } else {
    print_text(*file, full);
  }
  return 0;
}

}  // namespace tokengrid::cli
