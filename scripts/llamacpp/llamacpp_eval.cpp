// llama.cpp's side of `tokengrid model eval`: the same prompt of token ids through llama.h,
// the same outputs (raw float32 logits, greedy ids as JSON), so scripts/compare_llamacpp.sh can
// set the two programs side by side. Built by that script against an existing llama.cpp build;
// not part of tokengrid's build or CI.
//
// usage: llamacpp_eval MODEL IDS GREEDY LOGITS_OUT ALL_POSITIONS(0|1) THREADS
//   IDS: comma-separated token ids (no BOS is added); GREEDY: tokens to generate by argmax.
// The KV cache is F32 and flash attention off, so that only the weights' arithmetic differs.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

namespace {

std::vector<llama_token> parse_ids(const std::string& text) {
  std::vector<llama_token> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) ids.push_back(static_cast<llama_token>(std::stol(item)));
  return ids;
}

llama_token argmax(const float* logits, int vocab) {
  int best = 0;
  for (int i = 1; i < vocab; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// Decodes `tokens` at positions from `pos`, asking for logits at every one of them or the last.
bool decode(llama_context* ctx, const std::vector<llama_token>& tokens, int pos, bool all) {
  llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (size_t i = 0; i < tokens.size(); i++) {
    batch.token[i] = tokens[i];
    batch.pos[i] = pos + static_cast<int>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = all || i + 1 == tokens.size();
  }
  batch.n_tokens = static_cast<int32_t>(tokens.size());
  bool ok = llama_decode(ctx, batch) == 0;
  llama_batch_free(batch);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s MODEL IDS GREEDY LOGITS_OUT ALL_POSITIONS(0|1) THREADS\n", argv[0]);
    return 2;
  }
  const std::vector<llama_token> prompt = parse_ids(argv[2]);
  const int greedy = std::atoi(argv[3]);
  const bool all = std::atoi(argv[5]) != 0;
  const int threads = std::atoi(argv[6]);
  llama_log_set([](ggml_log_level level, const char* text, void*) {
    if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
  }, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (model == nullptr) {
    std::fprintf(stderr, "llamacpp_eval: llama.cpp could not load %s\n", argv[1]);
    return 1;
  }
  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(prompt.size() + greedy + 16);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(prompt.size());
  cp.n_threads = cp.n_threads_batch = threads;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.swa_full = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr || !decode(ctx, prompt, 0, all)) {
    std::fprintf(stderr, "llamacpp_eval: llama.cpp could not run the prompt\n");
    return 1;
  }
  const int rows = all ? static_cast<int>(prompt.size()) : 1;
  std::vector<float> logits;
  for (int r = 0; r < rows; r++) {
    const float* row = llama_get_logits_ith(ctx, all ? r : -1);
    logits.insert(logits.end(), row, row + vocab);
  }
  std::vector<llama_token> ids;
  llama_token next = argmax(llama_get_logits_ith(ctx, -1), vocab);
  for (int i = 0; i < greedy; i++) {
    ids.push_back(next);
    if (i + 1 == greedy) break;
    if (!decode(ctx, {next}, static_cast<int>(prompt.size()) + i, false)) return 1;
    next = argmax(llama_get_logits_ith(ctx, -1), vocab);
  }
  FILE* out = std::fopen(argv[4], "wb");
  if (out == nullptr || std::fwrite(logits.data(), sizeof(float), logits.size(), out) != logits.size()) return 1;
  std::fclose(out);
  std::printf("{\"prompt_tokens\":%zu,\"vocab_size\":%d,\"greedy_ids\":[", prompt.size(), vocab);
  for (size_t i = 0; i < ids.size(); i++) std::printf("%s%d", i ? "," : "", ids[i]);
  std::printf("],\"logit_rows\":%d}\n", rows);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
