#include "engine/vocabulary_gguf.h"

#include <limits>
#include <string>
#include <utility>

#include "engine/pre_tokenizer.h"

namespace tokengrid::engine {
namespace {

constexpr std::string_view kModel = "tokenizer.ggml.model";
constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kScores = "tokenizer.ggml.scores";
constexpr std::string_view kTypes = "tokenizer.ggml.token_type";
constexpr std::string_view kMerges = "tokenizer.ggml.merges";
constexpr std::string_view kPre = "tokenizer.ggml.pre";

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

// The merges and the pre-tokenizer's name of a byte-level BPE vocabulary.
Status read_byte_level(const GgufFile& file, Vocabulary& vocab) {
  auto merges = file.get_string_array(kMerges);
  if (!merges) return bad(file, kMerges, file.find(kMerges) ? "is not an array of strings" : "is missing");
  vocab.merges = std::move(*merges);
  if (file.find(kPre) != nullptr) {
    auto pre = file.get_string(kPre);
    if (!pre) return bad(file, kPre, "is not a string");
    vocab.pre = *pre;
  }
  if (auto known = pre_tokenizer_from_name(vocab.pre); !known.is_ok()) {
    return unsupported(file.name() + ": " + known.status().message());
  }
  return Status::ok();
}

}  // namespace

Result<Vocabulary> vocabulary_from_gguf(const GgufFile& file) {
  const auto model = file.get_string(kModel);
  if (!model) {
    if (file.find(kModel) != nullptr) return bad(file, kModel, "is not a string");
    return not_found(file.name() + " has no tokenizer (no " + std::string(kModel) +
                     "); use a GGUF file converted with its tokenizer");
  }
  Vocabulary vocab;
  if (*model == "llama") {
    vocab.model = TokenizerModel::kSentencePiece;
  } else if (*model == "gpt2") {
    vocab.model = TokenizerModel::kByteLevelBpe;
  } else {
    return unsupported(file.name() + ": tokenizer model '" + *model +
                       "' is not supported; tokengrid reads SentencePiece ('llama') and byte-level BPE "
                       "('gpt2') vocabularies");
  }
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

  if (vocab.model == TokenizerModel::kByteLevelBpe) TG_RETURN_IF_ERROR(read_byte_level(file, vocab));

  int32_t default_unk = -1;
  for (size_t i = 0; i < vocab.types.size(); ++i) {
    if (vocab.types[i] == static_cast<int32_t>(TokenType::kUnknown)) {
      default_unk = static_cast<int32_t>(i);
      break;
    }
  }
  if (default_unk < 0 && vocab.tokens[0] == "<unk>") default_unk = 0;
  // SentencePiece files leave out the ids Llama 2 uses; byte-level files name theirs.
  const bool spm = vocab.model == TokenizerModel::kSentencePiece;
  auto id_or_none = [n, spm](int32_t id) { return spm && static_cast<size_t>(id) < n ? id : -1; };
  // llama.cpp's default: SentencePiece and Llama 3's pre-tokenizer add BOS, others do not.
  const auto pre = pre_tokenizer_from_name(vocab.pre);
  const bool default_add_bos = spm || (pre.is_ok() && pre->ignore_merges);

  TG_ASSIGN_OR_RETURN(vocab.bos_id, read_token_id(file, "tokenizer.ggml.bos_token_id", id_or_none(1), n));
  TG_ASSIGN_OR_RETURN(vocab.eos_id, read_token_id(file, "tokenizer.ggml.eos_token_id", id_or_none(2), n));
  TG_ASSIGN_OR_RETURN(vocab.unk_id, read_token_id(file, "tokenizer.ggml.unknown_token_id", default_unk, n));
  TG_ASSIGN_OR_RETURN(vocab.eot_id, read_token_id(file, "tokenizer.ggml.eot_token_id", -1, n));
  TG_ASSIGN_OR_RETURN(vocab.eom_id, read_token_id(file, "tokenizer.ggml.eom_token_id", -1, n));
  TG_ASSIGN_OR_RETURN(vocab.add_bos, read_flag(file, "tokenizer.ggml.add_bos_token", default_add_bos));
  TG_ASSIGN_OR_RETURN(vocab.add_eos, read_flag(file, "tokenizer.ggml.add_eos_token", false));
  TG_ASSIGN_OR_RETURN(vocab.add_space_prefix, read_flag(file, "tokenizer.ggml.add_space_prefix", spm));
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

void write_vocabulary(const Vocabulary& vocab, GgufWriter& writer) {
  const bool spm = vocab.model == TokenizerModel::kSentencePiece;
  writer.set_string(std::string(kModel), spm ? "llama" : "gpt2");
  if (!spm) writer.set_string(std::string(kPre), vocab.pre.empty() ? "gpt-2" : vocab.pre);
  writer.set_string_array(std::string(kTokens), vocab.tokens);
  if (!vocab.scores.empty()) writer.set_f32_array(std::string(kScores), vocab.scores);
  if (!vocab.types.empty()) writer.set_i32_array(std::string(kTypes), vocab.types);
  if (!spm) writer.set_string_array(std::string(kMerges), vocab.merges);
  auto set_id = [&writer](const char* key, int32_t id) {
    if (id >= 0) writer.set_u32(key, static_cast<uint32_t>(id));
  };
  set_id("tokenizer.ggml.bos_token_id", vocab.bos_id);
  set_id("tokenizer.ggml.eos_token_id", vocab.eos_id);
  set_id("tokenizer.ggml.unknown_token_id", vocab.unk_id);
  set_id("tokenizer.ggml.eot_token_id", vocab.eot_id);
  set_id("tokenizer.ggml.eom_token_id", vocab.eom_id);
  writer.set_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  writer.set_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  if (spm) writer.set_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
}

}  // namespace tokengrid::engine
