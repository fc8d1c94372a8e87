// tokengrid model synth: write a random-weight model of a named shape (any supported architecture).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/model_commands.h"
#include "engine/synthetic_model.h"
#include "engine/tokenizer_json.h"

namespace tokengrid::cli {

int run_model_synth(int argc, char** argv) {
  CLI::App app{"Write a random-weight model of a named shape (GGUF v3)", argv[0]};
  std::string shape_name = "tiny", type_name = "q8_0", out, vocab_path;
  uint64_t seed = 1;
  int layers = 0;
  int context = 0;
  std::string shapes;
  for (const auto& s : engine::synthetic_shapes()) shapes += (shapes.empty() ? "" : ", ") + s.name;
  app.add_option("--shape", shape_name, "one of: " + shapes);
  app.add_option("--type", type_name, "weight type: f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_k, q5_k, q6_k");
  app.add_option("--seed", seed, "random seed; the same seed gives the same file");
  app.add_option("--layers", layers, "keep only the first N layers (a shallower model of the same shape, for tests)")
      ->check(CLI::PositiveNumber);
  app.add_option("--vocab", vocab_path,
                 "use the vocabulary and chat template of a Hugging Face tokenizer.json (Llama 3, Qwen, "
                 "Gemma, ...) instead of a generated one; its size replaces the shape's");
  app.add_option("--context", context, "context length in tokens (default: the shape's)")
      ->check(CLI::Range(16, 1 << 20));
  std::string logits = "flat";
  app.add_option("--logits", logits,
                 "flat: independent random matrices (near ties at the argmax); peaked: the top logit a few "
                 "nats ahead, as in a trained model, so quantized files keep their greedy ids")
      ->check(CLI::IsMember({"flat", "peaked"}));
  app.add_option("-o,--output", out, "output file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto shape = engine::find_synthetic_shape(shape_name);
  if (!shape) {
    std::fprintf(stderr, "tokengrid model synth: unknown shape '%s'; known shapes: %s\n",
                 shape_name.c_str(), shapes.c_str());
    return 2;
  }
  if (layers > 0) shape->n_layers = std::min(shape->n_layers, layers);
  if (context > 0) shape->context_length = context;
  auto type = engine::parse_type(type_name);
  if (!type) {
    std::fprintf(stderr, "tokengrid model synth: unknown type '%s'; use f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_k, q5_k or q6_k\n",
                 type_name.c_str());
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  std::optional<engine::TokenizerJson> vocabulary;
  if (!vocab_path.empty()) {
    auto read = engine::read_tokenizer_json(vocab_path);
    if (!read.is_ok()) {
      std::fprintf(stderr, "tokengrid model synth: %s\n", read.status().message().c_str());
      return 1;
    }
    vocabulary = std::move(read).value();
    shape->vocab_size = static_cast<int>(vocabulary->vocabulary.tokens.size());
  }
  Status status = engine::write_synthetic_model(*shape, *type, seed, out, vocabulary ? &*vocabulary : nullptr,
                                                logits == "peaked" ? engine::SyntheticLogits::kPeaked
                                                                   : engine::SyntheticLogits::kFlat);
  if (!status.is_ok()) {
    std::fprintf(stderr, "tokengrid model synth: %s\n", status.message().c_str());
    return 1;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "wrote %s: shape %s (%s, %d layers), %s, %d tokens, %.1f MiB in %.1f s\n", out.c_str(),
               shape->name.c_str(), engine::architecture_name(shape->arch), shape->n_layers, type_name.c_str(),
               shape->vocab_size, std::filesystem::file_size(out) / double(1 << 20), seconds);
  return 0;
}

}  // namespace tokengrid::cli
