// `tokengrid model quantize IN OUT --type TYPE`: rewrites a model's weights in another type.
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
  CLI::App app{"Writes IN's weights as TYPE into a new GGUF v3 file OUT: every 2-D weight whose "
               "row length is a multiple of the type's block size is converted, other tensors "
               "(norms) are written as f32; metadata is copied with general.file_type updated.",
               argv[0]};
  std::string in_path, out_path, type_text;
  app.add_option("IN", in_path, "source GGUF model (f32, f16, bf16, q8_0 or q4_0 tensors)")->required();
  app.add_option("OUT", out_path, "file to write")->required();
  app.add_option("--type", type_text, "target type: q8_0, q4_0, f16, bf16 or f32")->required();
  CLI11_PARSE(app, argc, argv);

  auto type = engine::parse_type(type_text);
  if (!type) {
    std::fprintf(stderr, "%s: unknown --type '%s'; choose q8_0, q4_0, f16, bf16 or f32\n", argv[0],
                 type_text.c_str());
    return 2;
  }
  auto in = engine::GgufFile::open(in_path);
  if (!in.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], in.status().message().c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  auto summary = engine::quantize_model(*in, *type, out_path);
  if (!summary.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], summary.status().message().c_str());
    return 1;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  auto out_size = std::filesystem::file_size(out_path, ec);
  std::printf("wrote %s (%s, %ju bytes) in %.2f s: %d tensors as %s, %d as f32; tensor data %ju -> %ju bytes\n",
              out_path.c_str(), engine::type_name(static_cast<uint32_t>(*type)).c_str(),
              static_cast<uintmax_t>(ec ? 0 : out_size), seconds, summary->converted,
              engine::type_name(static_cast<uint32_t>(*type)).c_str(), summary->kept_f32,
              static_cast<uintmax_t>(summary->bytes_in), static_cast<uintmax_t>(summary->bytes_out));
  return 0;
}

}  // namespace tokengrid::cli
