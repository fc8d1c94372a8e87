// tokengrid serve: one model behind the OpenAI API.
//
// The port is bound first and the model loads on a background thread, so health checks work
// at once and /ready turns 200 when the model is in. SIGTERM or SIGINT drains: no new
// connections, running requests finish (up to --drain-timeout, then they are cancelled), and
// the process exits 0. A second signal cancels at once.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/command.h"
#include "engine/gguf.h"
#include "engine/llm_engine.h"
#include "engine/tokenizer.h"
#include "http/auth.h"
#include "serve/chat_template.h"
#include "http/http_server.h"
#include "serve/fim_tokens.h"
#include "serve/openai_service.h"

namespace tokengrid::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Waits up to `timeout` for SIGINT or SIGTERM (blocked in every thread); true when one came.
bool wait_for_signal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = timeout.count() / 1000;
  ts.tv_nsec = (timeout.count() % 1000) * 1000000;
  return sigtimedwait(&signals, nullptr, &ts) > 0;
}

int run_serve(int argc, char** argv) {
  CLI::App app{"Serve a GGUF model through the OpenAI API (chat and text completions)", argv[0]};
  std::string model_path, model_name, host = "127.0.0.1", api_key, keys_file;
  std::string kv_mem, body_limit = "8MiB";
  int port = 8080, threads = 0, http_threads = 2, max_batch = 32, max_queue = 256;
  double drain_timeout_s = 30;
  app.add_option("-m,--model", model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  app.add_option("--model-name", model_name, "name reported as \"model\" (default: the file's)");
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  auto* key_opt = app.add_option("--api-key", api_key, "require this Bearer key on /v1 routes");
  app.add_option("--keys", keys_file, "file of accepted keys, one per line")
      ->check(CLI::ExistingFile)
      ->excludes(key_opt);
  app.add_option("--threads", threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--http-threads", http_threads, "threads for HTTP connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-batch", max_batch, "sequences generated together in one step")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--kv-mem", kv_mem, "KV cache memory, e.g. 512MiB (default: room for the batch)");
  app.add_option("--max-queue", max_queue, "requests allowed to wait; more are answered 429")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--body-limit", body_limit, "largest request body")->capture_default_str();
  app.add_option("--drain-timeout", drain_timeout_s, "seconds running requests get at shutdown")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "tokengrid serve: %s\n", message.c_str());
    return 2;
  };

  auto body_bytes = http::parse_byte_size(body_limit);
  if (!body_bytes.is_ok()) return fail("--body-limit: " + body_bytes.status().message());
  engine::LlmEngineOptions engine_options;
  engine_options.max_batch_sequences = max_batch;
  engine_options.max_queue = max_queue;
  engine_options.threads = threads;
  if (!kv_mem.empty()) {
    auto kv_bytes = http::parse_byte_size(kv_mem);
    if (!kv_bytes.is_ok()) return fail("--kv-mem: " + kv_bytes.status().message());
    engine_options.kv_memory_bytes = static_cast<int64_t>(*kv_bytes);
  }

  serve::OpenAiServiceOptions service_options;
  service_options.max_queue = max_queue;
  if (!api_key.empty()) service_options.keys = http::ApiKeys({api_key});
  if (!keys_file.empty()) {
    auto keys = http::ApiKeys::load_file(keys_file);
    if (!keys.is_ok()) return fail(keys.status().message());
    service_options.keys = std::move(keys).value();
  }

  // Signals go to sigtimedwait below, never to a random thread: block them before any thread
  // starts (threads inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  serve::OpenAiService service(std::move(service_options));
  http::HttpServerOptions http;
  http.host = host;
  http.port = static_cast<uint16_t>(port);
  http.threads = http_threads;
  http.body_limit = *body_bytes;
  http.error_response = &serve::OpenAiService::transport_error;
  auto server = http::HttpServer::start(http, service.handler());
  if (!server.is_ok()) return fail(server.status().message());
  std::fprintf(stderr, "tokengrid serve: listening on http://%s:%u, loading %s\n", host.c_str(),
               (*server)->port(), model_path.c_str());

  std::unique_ptr<engine::LlmEngine> engine;
  std::atomic<bool> load_failed{false};
  std::thread loader([&] {
    Clock::time_point start = Clock::now();
    auto loaded = engine::LlmEngine::load(model_path, engine_options);
    if (!loaded.is_ok()) {
      std::fprintf(stderr, "tokengrid serve: cannot load the model: %s\n",
                   loaded.status().message().c_str());
      service.set_load_failed(loaded.status().message());
      load_failed.store(true);
      return;
    }
    engine = std::move(loaded).value();
    const engine::Tokenizer& tokenizer = engine->tokenizer();
    serve::ServedModel served;
    served.engine = engine.get();
    served.name = !model_name.empty() ? model_name
                                      : std::filesystem::path(model_path).stem().string();
    served.vocab_size = tokenizer.vocab_size();
    served.chat_template =
        engine->model().gguf().get_string("tokenizer.chat_template").value_or("");
    served.encode = [&tokenizer](const std::string& text, std::span<const engine::TextRange> client_text) {
      return tokenizer.encode_prompt(text, client_text);
    };
    served.decode = [&tokenizer](const std::vector<int32_t>& ids) { return tokenizer.decode(ids); };
    served.bos_id = tokenizer.add_bos() ? tokenizer.bos_id() : -1;
    served.fim = serve::find_fim_tokens(engine->model().gguf(), tokenizer);
    serve::ChatTemplateFamily family = serve::detect_chat_template(served.chat_template).family;
    std::string name = served.name;
    service.set_model(std::move(served));
    std::fprintf(stderr,
                 "tokengrid serve: ready in %.1f s: model %s, context %d tokens, %d KV blocks, "
                 "chat template %s\n",
                 std::chrono::duration<double>(Clock::now() - start).count(), name.c_str(),
                 engine->context_length(), engine->kv_blocks_total(),
                 serve::chat_template_family_name(family));
  });

  while (!wait_for_signal(signals, std::chrono::milliseconds(200))) {
    if (load_failed.load()) break;
  }
  bool failed = load_failed.load();
  std::fprintf(stderr, "tokengrid serve: %s\n",
               failed ? "stopping" : "draining: no new connections, finishing running requests");
  (*server)->stop_accepting();
  loader.join();

  Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(drain_timeout_s * 1000));
  bool cancelled = false;
  while (service.active_requests() > 0 || (*server)->in_flight() > 0) {
    if (!cancelled && (Clock::now() >= deadline || wait_for_signal(signals, std::chrono::milliseconds(0)))) {
      std::fprintf(stderr, "tokengrid serve: cancelling %d running requests\n",
                   service.active_requests());
      service.cancel_all();
      cancelled = true;
      deadline = Clock::now() + std::chrono::seconds(5);
    } else if (cancelled && Clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The engine's callbacks reach into the service and the server: stop it first.
  if (engine) engine->shutdown(engine::ShutdownMode::kCancel);
  (*server)->stop();
  engine.reset();
  std::fprintf(stderr, "tokengrid serve: stopped\n");
  return failed ? 1 : 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(serve, "serve", "serve a model through the OpenAI API", run_serve);

}  // namespace tokengrid::cli
