// `tokengrid model SUBCOMMAND ...`: dispatches to the functions of model_commands.h.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.h"
#include "cli/model_commands.h"

namespace tokengrid::cli {
namespace {

struct ModelSubcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

constexpr ModelSubcommand kModelSubcommands[] = {
    {"eval", "a prompt of token ids: its logits to a file, its greedy continuation as JSON", run_model_eval},
    {"info", "metadata, tensors, parameter count and bytes by type of a GGUF file", run_model_info},
    {"quantize", "rewrite a model's weights as q8_0, q5_1, q5_0, q4_0, f16, bf16 or f32 (GGUF v3)",
     run_model_quantize},
    {"synth", "write a random-weight model of a named shape and architecture (GGUF v3)", run_model_synth},
    {"vocab", "convert a tokenizer.json to GGUF tokenizer metadata; tokenize text with a vocabulary",
     run_model_vocab},
};

void print_model_usage(FILE* out) {
  std::fprintf(out,
               "usage: tokengrid model SUBCOMMAND [ARGS...]   (tokengrid model SUBCOMMAND --help)\n\n"
               "subcommands:\n");
  for (const ModelSubcommand& s : kModelSubcommands) std::fprintf(out, "  %-10s %s\n", s.name, s.summary);
}

int run_model(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_model_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const ModelSubcommand& s : kModelSubcommands) {
    if (std::strcmp(argv[1], s.name) == 0) {
      std::string name = std::string(argv[0]) + " " + s.name;
      argv[1] = name.data();
      return s.run(argc - 1, argv + 1);
    }
  }
  std::fprintf(stderr, "tokengrid model: unknown subcommand '%s'\n\n", argv[1]);
  print_model_usage(stderr);
  return 2;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(model, "model", "inspect and convert GGUF model files", run_model);

}  // namespace tokengrid::cli
