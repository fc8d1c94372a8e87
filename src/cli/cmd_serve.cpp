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
#include "core/shutdown_signals.h"
#include "controlplane/site_registration.h"
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

// The HTTP server's limits as flags; http_server.h says how each is answered.
struct LimitFlags {
  std::string body_limit = "8MiB", header_limit = "64KiB";
  int max_header_count = 100, max_connections = 1024;
  double idle_timeout_s = 60, request_timeout_s = 60;

  void add_to(CLI::App& app) {
    app.add_option("--body-limit", body_limit, "largest request body (413 over it)")->capture_default_str();
    app.add_option("--header-limit", header_limit, "largest request line and headers (431 over it)")
        ->capture_default_str();
    app.add_option("--max-header-count", max_header_count, "most header fields in a request (431 over it)")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    app.add_option("--max-connections", max_connections, "connections open at once (503 over it)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    app.add_option("--idle-timeout", idle_timeout_s, "seconds a connection may wait between requests")
        ->check(CLI::Range(0.001, 86400.0))
        ->capture_default_str();
    app.add_option("--request-timeout", request_timeout_s, "seconds a client may take to send a request (408)")
        ->check(CLI::Range(0.001, 86400.0))
        ->capture_default_str();
  }

  Result<http::HttpLimits> limits() const {
    http::HttpLimits l;
    auto body = http::parse_byte_size(body_limit);
    if (!body.is_ok()) return invalid_argument("--body-limit: " + body.status().message());
    auto header = http::parse_byte_size(header_limit);
    if (!header.is_ok()) return invalid_argument("--header-limit: " + header.status().message());
    if (*header < 1024) return invalid_argument("--header-limit: must be at least 1KiB");
    l.body_limit = *body;
    l.header_limit = *header;
    l.max_header_count = static_cast<size_t>(max_header_count);
    l.max_connections = max_connections;
    l.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(idle_timeout_s * 1000));
    l.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(request_timeout_s * 1000));
    return l;
  }
};

struct ServeFlags {
  std::string model_path, model_name, host = "127.0.0.1", api_key, keys_file;
  std::string kv_mem;
  LimitFlags limit_flags;
  int port = 8080, threads = 0, http_threads = 2, max_batch = 32, max_queue = 256;
  double drain_timeout_s = 30;
  bool decodes_wait_for_first_tokens = true;
  controlplane::JoinOptions join;
  std::string advertise;
};

void add_join_flags(CLI::App& app, ServeFlags& f) {
  auto* join = app.add_option("--join", f.join.etcd, "register this worker as a site in etcd (etcd://HOST:PORT) "
                                                     "once its model is loaded; gateways with --etcd route to it");
  app.add_option("--site", f.join.site, "the site's name in the grid (with --join)")->needs(join);
  join->needs("--site");
  app.add_option("--site-file", f.join.site_file, "the site's description in the grid file's schema, for gateways "
                                                  "whose grid file does not name it")
      ->check(CLI::ExistingFile)
      ->needs(join);
  app.add_option("--advertise", f.advertise, "the URL gateways reach this worker at (default http://HOST:PORT/v1)")
      ->needs(join);
  app.add_option("--lease-ttl", f.join.ttl_s, "seconds the site stays registered after the worker stops renewing")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();
  app.add_option("--etcd-prefix", f.join.prefix, "where tokengrid's keys live in etcd")->capture_default_str();
}

void add_flags(CLI::App& app, ServeFlags& f) {
  app.add_option("-m,--model", f.model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  app.add_option("--model-name", f.model_name, "name reported as \"model\" (default: the file's)");
  app.add_option("--host", f.host, "address to listen on")->capture_default_str();
  app.add_option("--port", f.port, "port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  auto* key_opt = app.add_option("--api-key", f.api_key, "require this Bearer key on /v1 routes");
  app.add_option("--keys", f.keys_file, "file of accepted keys, one per line")
      ->check(CLI::ExistingFile)
      ->excludes(key_opt);
  app.add_option("--threads", f.threads, "compute threads (default: all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--http-threads", f.http_threads, "threads for HTTP connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-batch", f.max_batch, "sequences generated together in one step")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_flag("--decodes-wait-for-first-tokens,!--no-decodes-wait-for-first-tokens", f.decodes_wait_for_first_tokens,
               "a step that ends a prompt leaves the running streams' decodes for the next step, so the first "
               "token comes sooner at the cost of one step's wait per arrival (default: on)");
  app.add_option("--kv-mem", f.kv_mem, "KV cache memory, e.g. 512MiB (default: room for the batch)");
  app.add_option("--max-queue", f.max_queue, "requests allowed to wait; more are answered 429")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  f.limit_flags.add_to(app);
  add_join_flags(app, f);
  app.add_option("--drain-timeout", f.drain_timeout_s, "seconds running requests get at shutdown")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

Result<engine::LlmEngineOptions> engine_options(const ServeFlags& f) {
  engine::LlmEngineOptions options;
  options.max_batch_sequences = f.max_batch;
  options.max_queue = f.max_queue;
  options.threads = f.threads;
  options.decodes_wait_for_first_tokens = f.decodes_wait_for_first_tokens;
  if (!f.kv_mem.empty()) {
    auto kv_bytes = http::parse_byte_size(f.kv_mem);
    if (!kv_bytes.is_ok()) return invalid_argument("--kv-mem: " + kv_bytes.status().message());
    options.kv_memory_bytes = static_cast<int64_t>(*kv_bytes);
  }
  return options;
}

Result<serve::OpenAiServiceOptions> service_options(const ServeFlags& f) {
  serve::OpenAiServiceOptions options;
  options.max_queue = f.max_queue;
  if (!f.api_key.empty()) options.keys = http::ApiKeys({f.api_key});
  if (!f.keys_file.empty()) {
    auto keys = http::ApiKeys::load_file(f.keys_file);
    if (!keys.is_ok()) return keys.status();
    options.keys = std::move(keys).value();
  }
  return options;
}

std::string served_model_name(const ServeFlags& f) {
  return !f.model_name.empty() ? f.model_name : std::filesystem::path(f.model_path).stem().string();
}

// Registers the loaded worker as a site; nullptr without --join.
std::unique_ptr<controlplane::SiteRegistrar> join_grid(const ServeFlags& f, uint16_t port) {
  if (f.join.etcd.empty()) return nullptr;
  const std::string url =
      !f.advertise.empty() ? f.advertise : "http://" + f.host + ":" + std::to_string(port) + "/v1";
  auto registrar = controlplane::join_site(f.join, {{url, {served_model_name(f)}, "tokengrid", f.max_batch}});
  if (!registrar) {
    std::fprintf(stderr, "tokengrid serve: cannot join the grid: %s\n", registrar.status().message().c_str());
    return nullptr;
  }
  return std::move(registrar).value();
}

// Loads the engine and hands the model to the service; on failure the service answers so.
std::unique_ptr<engine::LlmEngine> load_model(const ServeFlags& f, const engine::LlmEngineOptions& options,
                                              serve::OpenAiService& service) {
  Clock::time_point start = Clock::now();
  auto loaded = engine::LlmEngine::load(f.model_path, options);
  if (!loaded.is_ok()) {
    std::fprintf(stderr, "tokengrid serve: cannot load the model: %s\n", loaded.status().message().c_str());
    service.set_load_failed(loaded.status().message());
    return nullptr;
  }
  std::unique_ptr<engine::LlmEngine> engine = std::move(loaded).value();
  const engine::Tokenizer& tokenizer = engine->tokenizer();
  serve::ServedModel served;
  served.engine = engine.get();
  served.name = served_model_name(f);
  served.vocab_size = tokenizer.vocab_size();
  served.chat_template = engine->model().gguf().get_string("tokenizer.chat_template").value_or("");
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
               "tokengrid serve: ready in %.1f s: model %s (%s), context %d tokens, %d KV blocks, chat template %s\n",
               std::chrono::duration<double>(Clock::now() - start).count(), name.c_str(),
               engine::architecture_name(engine->model().config().arch), engine->context_length(),
               engine->kv_blocks_total(), serve::chat_template_family_name(family));
  return engine;
}

// Running requests get `timeout_s` to finish (a second signal cuts it short), then are
// cancelled and get 5 s more.
void drain(serve::OpenAiService& service, http::HttpServer& server, const sigset_t& signals, double timeout_s) {
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  bool cancelled = false;
  while (service.active_requests() > 0 || server.in_flight() > 0) {
    if (!cancelled && (Clock::now() >= deadline || wait_for_shutdown_signal(signals, std::chrono::milliseconds(0)))) {
      std::fprintf(stderr, "tokengrid serve: cancelling %d running requests\n", service.active_requests());
      service.cancel_all();
      cancelled = true;
      deadline = Clock::now() + std::chrono::seconds(5);
    } else if (cancelled && Clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int run_serve(int argc, char** argv) {
  CLI::App app{"Serve a GGUF model through the OpenAI API (chat and text completions)", argv[0]};
  ServeFlags flags;
  add_flags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "tokengrid serve: %s\n", message.c_str());
    return 2;
  };
  auto limits = flags.limit_flags.limits();
  if (!limits.is_ok()) return fail(limits.status().message());
  auto engine_opts = engine_options(flags);
  if (!engine_opts.is_ok()) return fail(engine_opts.status().message());
  auto service_opts = service_options(flags);
  if (!service_opts.is_ok()) return fail(service_opts.status().message());

  const sigset_t signals = block_shutdown_signals();
  serve::OpenAiService service(std::move(service_opts).value());
  http::HttpServerOptions http;
  static_cast<http::HttpLimits&>(http) = *limits;
  http.host = flags.host;
  http.port = static_cast<uint16_t>(flags.port);
  http.threads = flags.http_threads;
  http.error_response = &serve::OpenAiService::transport_error;
  auto server = http::HttpServer::start(http, service.handler());
  if (!server.is_ok()) return fail(server.status().message());
  std::fprintf(stderr, "tokengrid serve: listening on http://%s:%u, loading %s\n", flags.host.c_str(),
               (*server)->port(), flags.model_path.c_str());

  std::unique_ptr<engine::LlmEngine> engine;
  std::atomic<bool> load_failed{false}, loaded{false};
  std::thread loader([&] {
    engine = load_model(flags, *engine_opts, service);
    if (!engine) load_failed.store(true);
    else loaded.store(true);
  });
  std::unique_ptr<controlplane::SiteRegistrar> registration;
  bool joined = false;
  while (!wait_for_shutdown_signal(signals, std::chrono::milliseconds(200))) {
    if (load_failed.load()) break;
    if (loaded.load() && !joined) {
      registration = join_grid(flags, (*server)->port());
      joined = true;
    }
  }
  const bool failed = load_failed.load();
  std::fprintf(stderr, "tokengrid serve: %s\n",
               failed ? "stopping" : "draining: no new connections, finishing running requests");
  // Gateways stop sending new requests at once rather than after the lease's TTL.
  if (registration) registration->stop();
  (*server)->stop_accepting();
  loader.join();
  drain(service, **server, signals, flags.drain_timeout_s);
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
