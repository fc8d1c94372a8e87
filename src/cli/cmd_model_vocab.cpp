// tokengrid model vocab: turn a Hugging Face tokenizer.json into GGUF tokenizer metadata, and
// tokenize text with it (or with any GGUF file's vocabulary).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/model_commands.h"
#include "engine/gguf_writer.h"
#include "engine/tokenizer_json.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::cli {
namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "tokengrid model vocab: %s\n", message.c_str());
  return 1;
}

Result<engine::Tokenizer> load_tokenizer(const std::string& path) {
  if (path.ends_with(".json")) {
    TG_ASSIGN_OR_RETURN(engine::TokenizerJson converted, engine::read_tokenizer_json(path));
    return engine::Tokenizer::create(std::move(converted.vocabulary));
  }
  TG_ASSIGN_OR_RETURN(engine::GgufFile file, engine::GgufFile::open(path));
  return engine::tokenizer_from_gguf(file);
}

}  // namespace

int run_model_vocab(int argc, char** argv) {
  CLI::App app{"Convert a tokenizer.json to GGUF tokenizer metadata, or tokenize text with a vocabulary", argv[0]};
  std::string input, out, text;
  bool special = false;
  app.add_option("input", input, "tokenizer.json (with tokenizer_config.json beside it) or a GGUF file")->required();
  app.add_option("-o,--output", out, "write the vocabulary (and chat template) as a GGUF file of metadata only");
  app.add_option("--encode", text, "print the token ids of this text, with the model's BOS/EOS framing");
  app.add_flag("--special", special, "with --encode: recognise special tokens in the text (as in chat templates)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (out.empty() && text.empty()) return fail("nothing to do: give -o FILE and/or --encode TEXT");
  if (!out.empty()) {
    if (!input.ends_with(".json")) return fail("-o converts a tokenizer.json; '" + input + "' is not one");
    auto converted = engine::read_tokenizer_json(input);
    if (!converted.is_ok()) return fail(converted.status().message());
    auto checked = engine::Tokenizer::create(converted->vocabulary);
    if (!checked.is_ok()) return fail(input + ": " + checked.status().message());
    engine::GgufWriter writer;
    engine::write_vocabulary(converted->vocabulary, writer);
    if (!converted->chat_template.empty()) writer.set_string("tokenizer.chat_template", converted->chat_template);
    if (Status s = writer.write(out); !s.is_ok()) return fail(s.message());
    std::fprintf(stderr, "wrote %s: %zu tokens, %zu merges, %s\n", out.c_str(), converted->vocabulary.tokens.size(),
                 converted->vocabulary.merges.size(),
                 converted->vocabulary.model == engine::TokenizerModel::kByteLevelBpe
                     ? ("byte-level BPE, pre-tokenizer " + converted->vocabulary.pre).c_str()
                     : "SentencePiece BPE");
  }
  if (!text.empty()) {
    auto tokenizer = load_tokenizer(input);
    if (!tokenizer.is_ok()) return fail(tokenizer.status().message());
    const auto ids = tokenizer->encode_prompt(text, special ? engine::SpecialTokens::kRecognise
                                                            : engine::SpecialTokens::kPlainText);
    std::string line;
    for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace tokengrid::cli
