#include "engine/tokenizer_json.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/pre_tokenizer.h"

namespace tokengrid::engine {
namespace {

using nlohmann::json;

// The Split expressions of the pre-tokenizers tokengrid knows, as tokenizer.json spells them.
constexpr std::string_view kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr size_t kMaxTokens = size_t{1} << 24;

// The steps of a pre-tokenizer or normalizer, with Sequences flattened.
void flatten(const json& step, const char* list_key, std::vector<const json*>& out) {
  if (!step.is_object()) return;
  if (step.value("type", "") == "Sequence" && step.contains(list_key) && step[list_key].is_array()) {
    for (const json& inner : step[list_key]) flatten(inner, list_key, out);
  } else {
    out.push_back(&step);
  }
}

std::vector<const json*> steps(const json& root, const char* key, const char* list_key) {
  std::vector<const json*> out;
  if (root.contains(key)) flatten(root[key], list_key, out);
  return out;
}

bool has_step(const std::vector<const json*>& steps, std::string_view type) {
  for (const json* s : steps) {
    if (s->value("type", "") == type) return true;
  }
  return false;
}

// A token's text from "<s>" or {"content": "<s>"}; empty when neither.
std::string token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

// Added tokens that llama.cpp's converter makes control tokens even when not marked special.
bool looks_special(std::string_view t) {
  return t == "<pad>" || t == "<mask>" || (t.starts_with("<|") && t.ends_with("|>")) ||
         (t.starts_with("<\xEF\xBD\x9C") && t.ends_with("\xEF\xBD\x9C>")) || t.starts_with("<start_of_") ||
         t.starts_with("<end_of_");
}

// The GGUF pre-tokenizer name for a byte-level tokenizer.json.
Result<std::string> byte_level_pre(const std::vector<const json*>& pre, bool ignore_merges) {
  std::string split;
  bool digits = false;
  bool byte_level_regex = false;
  for (const json* s : pre) {
    const std::string type = s->value("type", "");
    if (type == "Split" && s->contains("pattern") && (*s)["pattern"].is_object()) {
      split = (*s)["pattern"].value("Regex", "");
    } else if (type == "Digits") {
      digits = s->value("individual_digits", false);
    } else if (type == "ByteLevel") {
      byte_level_regex = s->value("use_regex", true);
    }
  }
  if (split == kLlama3Split && !byte_level_regex) return std::string(ignore_merges ? "llama-bpe" : "dbrx");
  if (split == kQwen2Split && !byte_level_regex) return std::string("qwen2");
  if (split.empty() && byte_level_regex) return std::string(digits ? "smollm" : "gpt-2");
  return unsupported("its byte-level pre-tokenizer (" + (split.empty() ? std::string("no Split") : "Split '" + split + "'") +
                     ") is not one tokengrid knows: Llama 3's, Qwen 2's, GPT-2's or SmolLM's");
}

// A merge as GGUF stores it, "LEFT RIGHT", from "LEFT RIGHT" or ["LEFT", "RIGHT"].
Result<std::string> merge_text(const json& m, size_t rank) {
  if (m.is_string()) return m.get<std::string>();
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return m[0].get<std::string>() + " " + m[1].get<std::string>();
  }
  return invalid_argument("merge " + std::to_string(rank) + " is " + m.dump() + ", not a pair of tokens");
}

struct Built {
  Vocabulary v;
  std::unordered_map<std::string, int32_t> id_of;  // added tokens first, then the model's
};

Status fill_tokens(const json& model, const json& added, Built& b) {
  if (!model.contains("vocab") || !model["vocab"].is_object()) return invalid_argument("model.vocab is not an object");
  int64_t max_id = -1;
  auto check_id = [&max_id](const json& id, const std::string& what) -> Status {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= static_cast<int64_t>(kMaxTokens)) {
      return invalid_argument(what + " has id " + id.dump() + ", not an integer from 0 to " + std::to_string(kMaxTokens - 1));
    }
    max_id = std::max(max_id, id.get<int64_t>());
    return Status::ok();
  };
  for (const auto& [text, id] : model["vocab"].items()) TG_RETURN_IF_ERROR(check_id(id, "token '" + text + "'"));
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["content"].is_string()) {
      return invalid_argument("an added token is " + a.dump() + ", not an object with id and content");
    }
    TG_RETURN_IF_ERROR(check_id(a["id"], "added token '" + a["content"].get<std::string>() + "'"));
  }
  if (max_id < 0) return invalid_argument("the vocabulary has no tokens");

  const auto n = static_cast<size_t>(max_id + 1);
  b.v.tokens.resize(n);
  b.v.types.assign(n, static_cast<int32_t>(TokenType::kUnused));
  std::vector<bool> filled(n, false);
  for (const auto& [text, id] : model["vocab"].items()) {
    const auto i = id.get<size_t>();
    if (filled[i]) return invalid_argument("tokens '" + b.v.tokens[i] + "' and '" + text + "' share id " + std::to_string(i));
    filled[i] = true;
    b.v.tokens[i] = text;
    b.v.types[i] = static_cast<int32_t>(TokenType::kNormal);
  }
  for (const json& a : added) {
    const auto i = a["id"].get<size_t>();
    const std::string text = a["content"].get<std::string>();
    filled[i] = true;
    b.v.tokens[i] = text;
    const bool control = a.value("special", false) || looks_special(text);
    b.v.types[i] = static_cast<int32_t>(control ? TokenType::kControl : TokenType::kUserDefined);
    b.id_of.try_emplace(text, static_cast<int32_t>(i));
  }
  for (size_t i = 0; i < n; ++i) {
    if (!filled[i]) b.v.tokens[i] = "[PAD" + std::to_string(i) + "]";
    b.id_of.try_emplace(b.v.tokens[i], static_cast<int32_t>(i));
  }
  return Status::ok();
}

Status fill_merges(const json& model, Built& b) {
  if (!model.contains("merges") || !model["merges"].is_array()) return invalid_argument("model.merges is not an array");
  const json& merges = model["merges"];
  const bool byte_level = b.v.model == TokenizerModel::kByteLevelBpe;
  std::unordered_map<std::string, size_t> first_rank;
  for (size_t r = 0; r < merges.size(); ++r) {
    TG_ASSIGN_OR_RETURN(std::string m, merge_text(merges[r], r));
    if (byte_level) {
      b.v.merges.push_back(std::move(m));
    } else if (merges[r].is_array()) {
      first_rank.try_emplace(merges[r][0].get<std::string>() + merges[r][1].get<std::string>(), r);
    } else if (const size_t space = m.find(' ', 1); space != std::string::npos) {
      first_rank.try_emplace(m.substr(0, space) + m.substr(space + 1), r);
    }
  }
  if (byte_level) return Status::ok();
  // SentencePiece: a piece made by merge r scores -r; pieces no merge makes score below all.
  b.v.scores.assign(b.v.tokens.size(), 0.0f);
  for (size_t i = 0; i < b.v.tokens.size(); ++i) {
    if (b.v.types[i] != static_cast<int32_t>(TokenType::kNormal)) continue;
    auto it = first_rank.find(b.v.tokens[i]);
    b.v.scores[i] = -static_cast<float>(it != first_rank.end() ? it->second : merges.size());
  }
  return Status::ok();
}

// SentencePiece vocabularies: byte tokens and the unknown token.
void mark_sentencepiece_types(const json& model, Built& b) {
  for (size_t i = 0; i < b.v.tokens.size(); ++i) {
    const std::string& t = b.v.tokens[i];
    if (b.v.types[i] == static_cast<int32_t>(TokenType::kNormal) && t.size() == 6 && t.starts_with("<0x") && t[5] == '>' &&
        std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]))) {
      b.v.types[i] = static_cast<int32_t>(TokenType::kByte);
    }
  }
  b.v.unk_id = -1;
  if (model.contains("unk_token")) {
    auto it = b.id_of.find(token_text(model["unk_token"]));
    if (it != b.id_of.end()) {
      b.v.unk_id = it->second;
      b.v.types[it->second] = static_cast<int32_t>(TokenType::kUnknown);
    }
  }
}

// The post-processor's template, when it starts with a special token: that token's text.
std::string template_first_special(const json& root) {
  std::vector<const json*> post = steps(root, "post_processor", "processors");
  for (const json* p : post) {
    if (p->value("type", "") != "TemplateProcessing" || !p->contains("single") || !(*p)["single"].is_array()) continue;
    const json& single = (*p)["single"];
    if (!single.empty() && single[0].contains("SpecialToken")) return single[0]["SpecialToken"].value("id", "");
  }
  return {};
}

Status fill_specials(const json& root, const json& config, Built& b, bool default_add_bos) {
  auto id_for = [&b](const std::string& key, const std::string& text) -> Result<int32_t> {
    if (text.empty()) return -1;
    auto it = b.id_of.find(text);
    if (it == b.id_of.end()) return invalid_argument(key + " '" + text + "' is not a token of the vocabulary");
    return it->second;
  };
  const std::string template_bos = template_first_special(root);
  const std::string bos = config.contains("bos_token") ? token_text(config["bos_token"]) : template_bos;
  const std::string eos = config.contains("eos_token") ? token_text(config["eos_token"]) : "";
  TG_ASSIGN_OR_RETURN(b.v.bos_id, id_for("bos_token", bos));
  TG_ASSIGN_OR_RETURN(b.v.eos_id, id_for("eos_token", eos));
  b.v.add_bos = default_add_bos || !template_bos.empty();
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) b.v.add_bos = config["add_bos_token"].get<bool>();
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) b.v.add_eos = config["add_eos_token"].get<bool>();
  if (b.v.bos_id < 0) b.v.add_bos = false;
  if (b.v.eos_id < 0) b.v.add_eos = false;
  return Status::ok();
}

std::string chat_template_of(const json& config) {
  if (!config.contains("chat_template")) return {};
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const json& named : t) {
      if (named.is_object() && named.value("name", "") == "default") return named.value("template", "");
    }
  }
  return {};
}

Result<TokenizerJson> convert(const json& root, const json& config) {
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    return invalid_argument("it has no model object");
  }
  const json& model = root["model"];
  const std::string type = model.value("type", "");
  if (type != "BPE") {
    return unsupported("its model is '" + type + "'; tokengrid reads BPE models (byte-level or SentencePiece)");
  }
  const std::vector<const json*> pre = steps(root, "pre_tokenizer", "pretokenizers");
  const std::vector<const json*> normalizers = steps(root, "normalizer", "normalizers");
  Built b;
  bool default_add_bos = true;
  if (has_step(pre, "ByteLevel")) {
    b.v.model = TokenizerModel::kByteLevelBpe;
    TG_ASSIGN_OR_RETURN(b.v.pre, byte_level_pre(pre, model.value("ignore_merges", false)));
    TG_ASSIGN_OR_RETURN(PreTokenizerSpec spec, pre_tokenizer_from_name(b.v.pre));
    default_add_bos = spec.ignore_merges;
    b.v.unk_id = -1;
  } else if (model.value("byte_fallback", false) || has_step(pre, "Metaspace")) {
    b.v.model = TokenizerModel::kSentencePiece;
    b.v.add_space_prefix = has_step(normalizers, "Prepend") || has_step(pre, "Metaspace");
  } else {
    return unsupported("its BPE model is neither byte-level (no ByteLevel pre-tokenizer) nor SentencePiece (no byte_fallback)");
  }
  static const json kNoAdded = json::array();
  const json& added = root.contains("added_tokens") && root["added_tokens"].is_array() ? root["added_tokens"] : kNoAdded;
  TG_RETURN_IF_ERROR(fill_tokens(model, added, b));
  if (b.v.model == TokenizerModel::kSentencePiece) mark_sentencepiece_types(model, b);
  TG_RETURN_IF_ERROR(fill_merges(model, b));
  TG_RETURN_IF_ERROR(fill_specials(root, config, b, default_add_bos));
  return TokenizerJson{std::move(b.v), chat_template_of(config)};
}

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("cannot read " + path);
  return std::move(text).str();
}

}  // namespace

Result<TokenizerJson> parse_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                                           const std::string& name) {
  auto fail = [&name](const Status& s) {
    return Status(s.code(), name + ": " + s.message() + "; use the tokenizer.json of a BPE model as Hugging Face ships it");
  };
  const json root = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return fail(invalid_argument("not valid JSON"));
  json config = json::object();
  if (!config_json.empty()) {
    config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) return fail(invalid_argument("its tokenizer_config.json is not a JSON object"));
  }
  try {
    auto converted = convert(root, config);
    if (!converted.is_ok()) return fail(converted.status());
    return converted;
  } catch (const json::exception& e) {  // a field of an unexpected JSON type
    return fail(invalid_argument(std::string("a field has an unexpected type (") + e.what() + ")"));
  }
}

Result<TokenizerJson> read_tokenizer_json(const std::string& path) {
  TG_ASSIGN_OR_RETURN(std::string text, read_all(path));
  std::string config;
  const auto config_path = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    TG_ASSIGN_OR_RETURN(config, read_all(config_path.string()));
  }
  return parse_tokenizer_json(text, config, path);
}

}  // namespace tokengrid::engine
