#include "engine/vocabulary_gguf.h"

#include <limits>
#include <string>
#include <utility>

namespace tokengrid::engine {
namespace {

constexpr std::string_view kModel = "tokenizer.ggml.model";
constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kScores = "tokenizer.ggml.scores";
constexpr std::string_view kTypes = "tokenizer.ggml.token_type";

Status bad(const GgufFile& file, std::string_view key, const std::string& problem) {
  return corrupt(file.name() + ": " + std::string(key) + " " + problem +
                 "; the model file's tokenizer metadata is damaged, convert the model again");
}

// An optional integer metadata value that must be a token id (or absent: fallback).
Result<int32_t> read_token_id(const GgufFile& file, std::string_view key, int32_t fallback, size_t vocab_size) {
  const GgufValue* value = file.find(key);
  if (value == nullptr) return fallback;
  const auto id = value->as_int();
  if (!id) return bad(file, key, "is " + value->to_string() + ", not an integer");
  if (*id < 0 || static_cast<uint64_t>(*id) >= vocab_size) {
    return bad(file, key, "is " + std::to_string(*id) + ", outside the vocabulary of " +
                              std::to_string(vocab_size) + " tokens");
  }
  return static_cast<int32_t>(*id);
}

Result<bool> read_flag(const GgufFile& file, std::string_view key, bool fallback) {
  const GgufValue* value = file.find(key);
  if (value == nullptr) return fallback;
  const auto flag = value->as_int();
  if (!flag) return bad(file, key, "is " + value->to_string() + ", not a boolean");
  return *flag != 0;
}

}  // namespace

Result<Vocabulary> vocabulary_from_gguf(const GgufFile& file) {
  const auto model = file.get_string(kModel);
  if (!model) {
    if (file.find(kModel) != nullptr) return bad(file, kModel, "is not a string");
    return not_found(file.name() + " has no tokenizer (no " + std::string(kModel) +
                     "); use a GGUF file converted with its tokenizer");
  }
  if (*model != "llama") {
    return unsupported(file.name() + ": tokenizer model '" + *model +
                       "' is not supported; tokengrid reads SentencePiece vocabularies ('llama')");
  }

  Vocabulary vocab;
  auto tokens = file.get_string_array(kTokens);
  if (!tokens) {
    return bad(file, kTokens, file.find(kTokens) ? "is not an array of strings" : "is missing");
  }
  if (tokens->empty()) return bad(file, kTokens, "is empty");
  if (tokens->size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return bad(file, kTokens, "has more tokens than token ids can address");
  }
  vocab.tokens = std::move(*tokens);
  const size_t n = vocab.tokens.size();

  if (file.find(kScores) != nullptr) {
    auto scores = file.get_float_array(kScores);
    if (!scores) return bad(file, kScores, "is not an array of numbers");
    if (scores->size() != n) {
      return bad(file, kScores, "has " + std::to_string(scores->size()) + " entries for " + std::to_string(n) + " tokens");
    }
    vocab.scores = std::move(*scores);
  }
  if (file.find(kTypes) != nullptr) {
    auto types = file.get_int_array(kTypes);
    if (!types) return bad(file, kTypes, "is not an array of integers");
    if (types->size() != n) {
      return bad(file, kTypes, "has " + std::to_string(types->size()) + " entries for " + std::to_string(n) + " tokens");
    }
    vocab.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t type = (*types)[i];
      if (type < 1 || type > 6) {
        return bad(file, kTypes, "gives token " + std::to_string(i) + " the unknown type " + std::to_string(type));
      }
      vocab.types.push_back(static_cast<int32_t>(type));
    }
  }

  int32_t default_unk = -1;
  for (size_t i = 0; i < vocab.types.size(); ++i) {
    if (vocab.types[i] == static_cast<int32_t>(TokenType::kUnknown)) {
      default_unk = static_cast<int32_t>(i);
      break;
    }
  }
  if (default_unk < 0 && vocab.tokens[0] == "<unk>") default_unk = 0;
  auto id_or_none = [n](int32_t id) { return static_cast<size_t>(id) < n ? id : -1; };

  TG_ASSIGN_OR_RETURN(vocab.bos_id, read_token_id(file, "tokenizer.ggml.bos_token_id", id_or_none(1), n));
  TG_ASSIGN_OR_RETURN(vocab.eos_id, read_token_id(file, "tokenizer.ggml.eos_token_id", id_or_none(2), n));
  TG_ASSIGN_OR_RETURN(vocab.unk_id, read_token_id(file, "tokenizer.ggml.unknown_token_id", default_unk, n));
  TG_ASSIGN_OR_RETURN(vocab.add_bos, read_flag(file, "tokenizer.ggml.add_bos_token", true));
  TG_ASSIGN_OR_RETURN(vocab.add_space_prefix, read_flag(file, "tokenizer.ggml.add_space_prefix", true));
  return vocab;
}

Result<Tokenizer> tokenizer_from_gguf(const GgufFile& file) {
  TG_ASSIGN_OR_RETURN(Vocabulary vocab, vocabulary_from_gguf(file));
  auto tokenizer = Tokenizer::create(std::move(vocab));
  if (!tokenizer.is_ok()) {
    return corrupt(file.name() + ": " + tokenizer.status().message());
  }
  return tokenizer;
}

}  // namespace tokengrid::engine
