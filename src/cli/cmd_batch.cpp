// tokengrid batch: a gateway's OpenAI batch API from the terminal: submit a JSONL file of
// requests (and wait for it with a progress bar), a batch's status, cancel, list.
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/batch_command.h"

namespace tokengrid::cli {
namespace {

void add_connection(CLI::App* app, gateway::BatchCommandOptions& c) {
  app->add_option("--url", c.url, "the gateway (tokengrid up's by default; a base URL ending in /v1 works too)")
      ->capture_default_str();
  app->add_option("--key", c.key, "the gateway's API key, sent as Authorization: Bearer KEY")->envname("TOKENGRID_API_KEY");
  app->add_option("--timeout", c.timeout_s, "seconds each request to the gateway may take")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
}

int run_batch_command(int argc, char** argv) {
  CLI::App app("Run OpenAI batches on a tokengrid gateway: they run in the cheapest and greenest hours and sites of "
               "their 24-hour window (docs/gateway.md, Batches).",
               argv[0]);
  app.require_subcommand(1);
  gateway::BatchCommandOptions c;
  gateway::BatchSubmitOptions submit;
  std::string id;

  CLI::App* s = app.add_subcommand("submit", "upload a JSONL file of requests and create its batch; prints the batch id");
  s->add_option("FILE", submit.file, "the requests, one JSON object a line (custom_id, method, url, body)")
      ->required()
      ->check(CLI::ExistingFile);
  s->add_option("--endpoint", submit.endpoint, "the route every line of the file names")->capture_default_str();
  s->add_flag("--wait", submit.wait, "follow the batch to its end (a progress bar on a terminal), then download its results");
  s->add_option("--output", submit.output, "with --wait, where the output goes (default FILE.output.jsonl; errors beside it "
                                           "in .errors.jsonl)");
  s->add_option("--interval", submit.interval_s, "with --wait, seconds between polls")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  add_connection(s, c);
  CLI::App* st = app.add_subcommand("status", "a batch's status and how many of its requests are done");
  st->add_option("ID", id, "the batch id (batch_...)")->required();
  add_connection(st, c);
  CLI::App* cancel = app.add_subcommand("cancel", "cancel a batch; what finished stays in its output");
  cancel->add_option("ID", id, "the batch id (batch_...)")->required();
  add_connection(cancel, c);
  CLI::App* list = app.add_subcommand("list", "this key's batches, newest first");
  add_connection(list, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (s->parsed()) return gateway::batch_submit(c, submit);
  if (st->parsed()) return gateway::batch_status(c, id);
  if (cancel->parsed()) return gateway::batch_cancel(c, id);
  return gateway::batch_list(c);
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(batch, "batch", "submit, follow, cancel and list batches on a gateway", run_batch_command);

}  // namespace tokengrid::cli
