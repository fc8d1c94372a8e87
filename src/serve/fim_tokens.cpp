#include "serve/fim_tokens.h"

#include <array>
#include <string_view>

namespace tokengrid::serve {

namespace {

std::optional<int32_t> id_from_key(const engine::GgufFile& gguf, const engine::Tokenizer& tokenizer, const char* key) {
  auto id = gguf.get_int(key);
  if (!id || *id < 0 || *id >= tokenizer.vocab_size()) return std::nullopt;
  return static_cast<int32_t>(*id);
}

std::optional<int32_t> id_of_text(const engine::Tokenizer& tokenizer, std::string_view text) {
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.token_text(id) == text) return id;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ServedModel::FimTokens> find_fim_tokens(const engine::GgufFile& gguf, const engine::Tokenizer& tokenizer) {
  using Keys = std::array<const char*, 3>;
  for (const Keys& keys : {Keys{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                                "tokenizer.ggml.fim_mid_token_id"},
                           Keys{"tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id",
                                "tokenizer.ggml.middle_token_id"}}) {
    auto pre = id_from_key(gguf, tokenizer, keys[0]), suf = id_from_key(gguf, tokenizer, keys[1]),
         mid = id_from_key(gguf, tokenizer, keys[2]);
    if (pre && suf && mid) return ServedModel::FimTokens{*pre, *suf, *mid};
  }
  using Texts = std::array<std::string_view, 3>;
  for (const Texts& texts : {Texts{"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},
                             Texts{"<fim_prefix>", "<fim_suffix>", "<fim_middle>"},
                             Texts{"\xE2\x96\x81<PRE>", "\xE2\x96\x81<SUF>", "\xE2\x96\x81<MID>"}}) {
    auto pre = id_of_text(tokenizer, texts[0]), suf = id_of_text(tokenizer, texts[1]), mid = id_of_text(tokenizer, texts[2]);
    if (pre && suf && mid) return ServedModel::FimTokens{*pre, *suf, *mid};
  }
  return std::nullopt;
}

}  // namespace tokengrid::serve
