// `tokengrid batch` in processes: against a `tokengrid gateway` with the batch API in front of a
// `tokengrid serve` worker, on a terminal (a pseudo-terminal the test opens) and off one, and
// against a server that answers anything but the batch API.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "e2e/live_grid_harness.h"
#include "http/http_server.h"

namespace tokengrid::e2e {
namespace {

struct Ran {
  int code = -1;
  std::string out, err;
};

// Runs `tokengrid ARGS...` to its end, stdout and stderr apart (neither a terminal).
Ran run_batch(const TempDir& dir, std::vector<std::string> args) {
  const std::string out = dir.file("cli.out"), err = dir.file("cli.err");
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >" + out + " 2>" + err, TOKENGRID_BIN, "batch"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::spawn(argv, "/dev/null");
  EXPECT_TRUE(child.is_ok()) << child.status().to_string();
  if (!child.is_ok()) return {};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((*child)->running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE((*child)->running()) << "tokengrid batch did not end in 120 s";
  return {(*child)->exit_code(), read_file(out), read_file(err)};
}

// Runs `tokengrid batch ARGS...` on a pseudo-terminal; what the terminal showed, and the exit code.
std::pair<int, std::string> run_on_terminal(std::vector<std::string> args) {
  std::vector<std::string> argv = {TOKENGRID_BIN, "batch"};
  argv.insert(argv.end(), args.begin(), args.end());
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    std::vector<char*> c;
    for (std::string& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    execv(c[0], c.data());
    _exit(127);
  }
  EXPECT_GT(pid, 0);
  std::string shown;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    const ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child is gone
    shown.append(buf, static_cast<size_t>(n));
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, shown};
}

std::string batch_lines(int n, int max_tokens = 4) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += json{{"custom_id", "q-" + std::to_string(i)},
                {"method", "POST"},
                {"url", "/v1/chat/completions"},
                {"body",
                 {{"model", "tiny"},
                  {"messages", {{{"role", "user"}, {"content", "Question " + std::to_string(i)}}}},
                  {"max_tokens", max_tokens}}}}
               .dump() +
           "\n";
  return out;
}

// One worker and a gateway with the batch API (batches start at once), shared by the tests.
class BatchCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const int worker_port = free_port();
    worker_ = spawn({"serve", "-m", cached_tiny_model(), "--port", std::to_string(worker_port), "--model-name", "tiny",
                     "--threads", "1"},
                    dir_->file("worker.log"))
                  .release();
    ASSERT_TRUE(wait_for(worker_port, "/ready", worker_)) << read_file(dir_->file("worker.log"));
    port_ = free_port();
    write_file(dir_->file("grid.yaml"),
               grid_yaml(port_, {{"a", "CHEAP", worker_port}}, write_signals(*dir_), "cheapest", "2024-07-01T00:00Z", 1,
                         dir_->file("usage.db")) +
                   "batch: {path: \"" + dir_->file("batches.db") + "\", schedule: at_once}\n");
    gateway_ = spawn({"gateway", "--config", dir_->file("grid.yaml")}, dir_->file("gateway.log")).release();
    ASSERT_TRUE(wait_for(port_, "/ready", gateway_)) << read_file(dir_->file("gateway.log"));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete worker_;
    delete dir_;
  }
  static std::string url() { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string write(const std::string& name, const std::string& content) {
    write_file(dir_->file(name), content);
    return dir_->file(name);
  }

  static TempDir* dir_;
  static ChildProcess* worker_;
  static ChildProcess* gateway_;
  static int port_;
};

TempDir* BatchCommand::dir_ = nullptr;
ChildProcess* BatchCommand::worker_ = nullptr;
ChildProcess* BatchCommand::gateway_ = nullptr;
int BatchCommand::port_ = 0;

TEST_F(BatchCommand, SubmitWaitPrintsTheIdStaysQuietOffATerminalAndWritesTheOutput) {
  const std::string input = write("six.jsonl", batch_lines(6));
  const std::string output = dir_->file("six-results.jsonl");
  const Ran r = run_batch(*dir_, {"submit", input, "--url", url() + "/v1", "--wait", "--interval", "0.1", "--output", output});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("batch_", 0), 0u) << r.out;
  const std::string id = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "only the id on stdout: " << r.out;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no progress bar off a terminal: " << r.err;
  EXPECT_NE(r.err.find(id + " completed: 6 of 6 requests completed, 0 failed"), std::string::npos) << r.err;
  const std::string lines = read_file(output);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 6) << lines;
  for (int i = 0; i < 6; ++i) EXPECT_NE(lines.find("\"custom_id\":\"q-" + std::to_string(i) + "\""), std::string::npos);
  EXPECT_EQ(lines.find("\"status_code\":200"), lines.find("\"status_code\""));

  const Ran status = run_batch(*dir_, {"status", id, "--url", url()});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(status.out.rfind(id + "  completed  6/6 done (6 completed, 0 failed)  /v1/chat/completions  output file-", 0), 0u)
      << status.out;
  const Ran list = run_batch(*dir_, {"list", "--url", url()});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(id + "  completed"), std::string::npos) << list.out;
  const Ran cancel = run_batch(*dir_, {"cancel", id, "--url", url()});
  EXPECT_EQ(cancel.code, 1);
  EXPECT_NE(cancel.err.find("answered 409"), std::string::npos) << cancel.err;
}

TEST_F(BatchCommand, SubmitWaitDrawsAProgressBarOnATerminal) {
  const std::string input = write("bar.jsonl", batch_lines(24, 16));
  const std::string output = dir_->file("bar-results.jsonl");
  const auto [code, shown] = run_on_terminal({"submit", input, "--url", url(), "--wait", "--interval", "0.05", "--output", output});
  EXPECT_EQ(code, 0) << shown;
  EXPECT_NE(shown.find("\r\033[Kbatch batch_"), std::string::npos) << shown;
  EXPECT_NE(shown.find("] 100%  24/24"), std::string::npos) << shown;
  EXPECT_NE(shown.find("  completed"), std::string::npos) << shown;
  const std::string lines = read_file(output);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 24);
}

TEST_F(BatchCommand, ASubmittedBatchCanBeCancelled) {
  const std::string input = write("long.jsonl", batch_lines(1000, 64));
  const Ran r = run_batch(*dir_, {"submit", input, "--url", url()});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.size() - 1);
  const Ran cancel = run_batch(*dir_, {"cancel", id, "--url", url()});
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_TRUE(cancel.out.find(id + "  cancelling") == 0 || cancel.out.find(id + "  cancelled") == 0) << cancel.out;
}

TEST_F(BatchCommand, MistakesAreExplained) {
  const Ran none = run_batch(*dir_, {"status", "batch_nope", "--url", url()});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("No batch found with id 'batch_nope'"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("tokengrid batch list"), std::string::npos) << none.err;
  const Ran txt = run_batch(*dir_, {"submit", write("requests.txt", batch_lines(1)), "--url", url()});
  EXPECT_EQ(txt.code, 1);
  EXPECT_NE(txt.err.find("must be a .jsonl file"), std::string::npos) << txt.err;
  const Ran endpoint = run_batch(*dir_, {"submit", write("e.jsonl", batch_lines(1)), "--url", url(), "--endpoint", "/v1/images"});
  EXPECT_EQ(endpoint.code, 1);
  EXPECT_NE(endpoint.err.find("param 'endpoint'"), std::string::npos) << endpoint.err;
  const Ran failed = run_batch(*dir_, {"submit", write("broken.jsonl", batch_lines(1) + "{\"custom_id\": 3}\n"), "--url",
                                       url(), "--wait", "--interval", "0.1"});
  EXPECT_EQ(failed.code, 1);
  EXPECT_NE(failed.err.find(" failed: "), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("line 2: "), std::string::npos) << failed.err;
  const Ran absent = run_batch(*dir_, {"submit", dir_->file("absent.jsonl"), "--url", url()});
  EXPECT_NE(absent.code, 0);
  EXPECT_NE(absent.err.find("absent.jsonl"), std::string::npos) << absent.err;
  const Ran nobody = run_batch(*dir_, {"list", "--url", "http://127.0.0.1:" + std::to_string(free_port())});
  EXPECT_EQ(nobody.code, 1);
  EXPECT_NE(nobody.err.find("cannot reach the gateway"), std::string::npos) << nobody.err;
  EXPECT_NE(run_batch(*dir_, {}).code, 0);
  EXPECT_NE(run_batch(*dir_, {"status"}).code, 0);
}

// A server at --url that answers 200 with anything but a batch: an error naming what it sent.
TEST_F(BatchCommand, AHostileServerIsNamedNotBelieved) {
  struct Answer {
    std::string body, expected;
  };
  const Answer answers[] = {
      {"<html>not a gateway</html>", "not a JSON object (<html>not a gateway</html>)"},
      {R"({"object": "batch", "id": "batch_1", "status": "in_progress", "request_counts": {"total": 2, "completed": 9, "failed": 0}})",
       "say 9 done of 2"},
      {R"({"object": "batch", "id": "batch_1", "status": "\u001b]0;pwned\u0007", "request_counts": {}})", "status '?]0;pwned?' is unknown"},
      {std::string(200000, '['), "not a JSON object"},
  };
  for (const Answer& a : answers) {
    http::HttpServerOptions o;
    o.port = 0;
    auto server = std::move(http::HttpServer::start(o, [&a](std::shared_ptr<http::HttpExchange> e) {
                              e->respond(http::HttpResponse::json(200, a.body));
                            }))
                      .value();
    const std::string hostile = "http://127.0.0.1:" + std::to_string(server->port());
    const Ran status = run_batch(*dir_, {"status", "batch_1", "--url", hostile});
    EXPECT_EQ(status.code, 1);
    EXPECT_NE(status.err.find(a.expected), std::string::npos) << status.err;
    EXPECT_EQ(status.err.find('\033'), std::string::npos) << "no terminal escape passed on";
    const Ran submit = run_batch(*dir_, {"submit", write("h.jsonl", batch_lines(1)), "--url", hostile, "--wait"});
    EXPECT_EQ(submit.code, 1);
    EXPECT_TRUE(submit.out.empty()) << submit.out;
  }
}

}  // namespace
}  // namespace tokengrid::e2e
