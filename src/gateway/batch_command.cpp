#include "gateway/batch_command.h"

#include <cstdio>
#include <thread>

#include "core/progress.h"

namespace tokengrid::gateway {
namespace {

constexpr int kPollFailuresAllowed = 3;  // in a row, while waiting

int fail(const Status& s) {
  std::fprintf(stderr, "tokengrid batch: %s\n", s.message().c_str());
  return 1;
}

Result<BatchClient> open_client(const BatchCommandOptions& c) { return BatchClient::open(c.url, c.key, c.timeout_s); }

std::string stem_of(const std::string& path) {
  return path.ends_with(".jsonl") ? path.substr(0, path.size() - 6) : path;
}

// Polls the batch until it ends, drawing its progress; transient failures are retried.
Result<BatchView> follow(BatchClient& client, BatchView b, double interval_s) {
  Progress progress("batch " + b.id, b.total);
  int failures = 0;
  while (!b.finished()) {
    progress.update(b.done(), b.total, b.status);
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000)));
    auto next = client.get(b.id);
    if (next) {
      b = std::move(next).value();
      failures = 0;
    } else if (++failures > kPollFailuresAllowed) {
      return Status(next.status().code(), next.status().message() + " (the batch goes on at the gateway: `tokengrid batch status " +
                                              b.id + "` follows it)");
    }
  }
  progress.update(b.done(), b.total, b.status);
  return b;
}

// Downloads the finished batch's files; 0, or 1 when one could not be fetched.
int fetch_results(BatchClient& client, const BatchView& b, const std::string& output) {
  int code = 0;
  const std::pair<const std::string*, std::string> files[] = {{&b.output_file_id, output},
                                                              {&b.error_file_id, errors_path(output)}};
  for (const auto& [id, path] : files) {
    if (id->empty()) continue;
    auto bytes = client.download(*id, path);
    if (!bytes) {
      code = fail(bytes.status());
      continue;
    }
    std::fprintf(stderr, "tokengrid batch: wrote %s (%lld bytes)\n", path.c_str(), static_cast<long long>(*bytes));
  }
  return code;
}

int report_end(const BatchView& b) {
  std::fprintf(stderr, "tokengrid batch: %s %s: %lld of %lld requests completed, %lld failed\n", b.id.c_str(),
               b.status.c_str(), static_cast<long long>(b.completed), static_cast<long long>(b.total),
               static_cast<long long>(b.failed));
  for (const std::string& e : b.errors) std::fprintf(stderr, "  %s\n", e.c_str());
  if (b.status == "failed" && !b.errors.empty())
    std::fprintf(stderr, "tokengrid batch: fix those lines of the file and submit it again\n");
  return b.status == "completed" ? 0 : 1;
}

}  // namespace

std::string output_path(const std::string& input, const std::string& output) {
  return output.empty() ? stem_of(input) + ".output.jsonl" : output;
}

std::string errors_path(const std::string& output) { return stem_of(output) + ".errors.jsonl"; }

std::string batch_line(const BatchView& b) {
  std::string line = b.id + "  " + b.status + "  " + std::to_string(b.done()) + "/" + std::to_string(b.total) + " done (" +
                     std::to_string(b.completed) + " completed, " + std::to_string(b.failed) + " failed)  " +
                     printable(b.endpoint, 64);
  if (!b.output_file_id.empty()) line += "  output " + b.output_file_id;
  if (!b.error_file_id.empty()) line += "  errors " + b.error_file_id;
  return line;
}

int batch_submit(const BatchCommandOptions& c, const BatchSubmitOptions& o) {
  auto client = open_client(c);
  if (!client) return fail(client.status());
  auto file_id = client->upload(o.file);
  if (!file_id) return fail(file_id.status());
  auto batch = client->create(*file_id, o.endpoint);
  if (!batch) return fail(batch.status());
  std::printf("%s\n", batch->id.c_str());
  std::fflush(stdout);
  if (!o.wait) return 0;
  auto done = follow(*client, std::move(batch).value(), o.interval_s);
  if (!done) return fail(done.status());
  const int fetched = fetch_results(*client, *done, output_path(o.file, o.output));
  const int ended = report_end(*done);
  return fetched != 0 ? fetched : ended;
}

int batch_status(const BatchCommandOptions& c, const std::string& id) {
  auto client = open_client(c);
  if (!client) return fail(client.status());
  auto b = client->get(id);
  if (!b) return fail(b.status());
  std::printf("%s\n", batch_line(*b).c_str());
  for (const std::string& e : b->errors) std::printf("  %s\n", e.c_str());
  return 0;
}

int batch_cancel(const BatchCommandOptions& c, const std::string& id) {
  auto client = open_client(c);
  if (!client) return fail(client.status());
  auto b = client->cancel(id);
  if (!b) return fail(b.status());
  std::printf("%s\n", batch_line(*b).c_str());
  return 0;
}

int batch_list(const BatchCommandOptions& c) {
  auto client = open_client(c);
  if (!client) return fail(client.status());
  auto batches = client->list();
  if (!batches) return fail(batches.status());
  if (batches->empty()) std::fprintf(stderr, "tokengrid batch: no batches for this key at %s\n", c.url.c_str());
  for (const BatchView& b : *batches) std::printf("%s\n", batch_line(b).c_str());
  return 0;
}

}  // namespace tokengrid::gateway
