// `tokengrid model quantize IN OUT --type SCHEME`: rewrites a model's weights under a
// quantization scheme (llama.cpp's file types).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/model_commands.h"
#include "engine/gguf.h"
#include "engine/quantize_model.h"
#include "engine/tensor_type.h"

namespace tokengrid::cli {

int run_model_quantize(int argc, char** argv) {
  CLI::App app{"Writes IN's weights under SCHEME into a new GGUF v3 file OUT, choosing each "
               "matrix's type as llama-quantize does: q4_k_m and q5_k_m give the output matrix "
               "and half of the attention-value and ffn-down matrices q6_K; the other schemes "
               "write every matrix in their type. Norms are written as f32; metadata is copied "
               "with general.file_type updated.",
               argv[0]};
  std::string in_path, out_path, type_text;
  app.add_option("IN", in_path, "source GGUF model (f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_K, q5_K or q6_K tensors)")
      ->required();
  app.add_option("OUT", out_path, "file to write")->required();
  app.add_option("--type", type_text, "scheme: q4_k_m, q5_k_m, q6_k, q8_0, q5_1, q5_0, q4_0, f16, bf16 or f32")->required();
  CLI11_PARSE(app, argc, argv);

  auto scheme = engine::parse_scheme(type_text);
  if (!scheme) {
    std::fprintf(stderr, "%s: unknown --type '%s'; choose q4_k_m, q5_k_m, q6_k, q8_0, q5_1, q5_0, q4_0, f16, bf16 or f32\n",
                 argv[0], type_text.c_str());
    return 2;
  }
  auto in = engine::GgufFile::open(in_path);
  if (!in.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], in.status().message().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  auto summary = engine::quantize_model(*in, *scheme, out_path);
  if (!summary.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], summary.status().message().c_str());
    return 1;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  auto out_size = std::filesystem::file_size(out_path, ec);
  std::printf("wrote %s (%s, %ju bytes) in %.2f s: %d matrices converted, %d tensors as f32; tensor data %ju -> %ju bytes\n",
              out_path.c_str(), engine::scheme_name(*scheme),
              static_cast<uintmax_t>(ec ? 0 : out_size), seconds, summary->converted, summary->kept_f32,
              static_cast<uintmax_t>(summary->bytes_in), static_cast<uintmax_t>(summary->bytes_out));
  return 0;
}

}  // namespace tokengrid::cli
