// BatchStore: the durable state of the batch API, one SQLite file (`batch: {path: ...}` in the
// grid file): uploaded files, batches, each request of a batch with its result, and the replay
// clock's position.
//
// Guarantees:
//   - Every change is one transaction, committed before the call returns (write-ahead log,
//     synchronous NORMAL: it survives the process being killed, kill -9 included).
//   - A batch's requests are written with its move to in_progress, in one transaction: a batch
//     in progress always has all of them.
//   - A request has one result at most: record() changes only a pending request, so a request
//     run twice (its first run lost in a crash) still gives one line, and the output and error
//     files, built from the results in input order, hold every custom_id at most once.
//   - Times are the grid clock's Unix seconds (a replay's in demos), as the batch API shows them.
//   - Opening refuses a file that is another application's database or a newer store's.
// Thread-safe: one connection behind a mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "gateway/batch_input.h"
#include "gateway/sqlite_db.h"

namespace tokengrid::gateway {

// What a file's content is: bytes uploaded, or the results of a batch.
enum class FileContent { kUpload = 0, kBatchOutput = 1, kBatchErrors = 2 };

struct FileRecord {
  std::string id;  // "file-..."
  std::string owner;  // the key's name
  std::string filename;
  std::string purpose;  // batch, batch_output
  int64_t bytes = 0;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  FileContent content = FileContent::kUpload;
  std::string batch_id;  // for results
};

struct BatchCounts {
  int64_t total = 0, completed = 0, failed = 0, pending = 0;
};

// What the batch's finished requests used, from their responses' usage.
struct BatchUsage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  double facility_wh = 0, usd = 0, g_co2e = 0;
  int64_t hours_used = 0;  // distinct grid-clock hours its requests finished in
};

struct BatchRecord {
  std::string id;  // "batch_..."
  std::string owner;
  std::string endpoint, input_file_id, completion_window, status, model;
  int64_t created_at = 0, expires_at = 0;
  std::optional<int64_t> in_progress_at, finalizing_at, completed_at, failed_at, expired_at, cancelling_at, cancelled_at;
  std::string output_file_id, error_file_id;
  std::optional<int64_t> output_expires_after_s;
  nlohmann::json errors;    // null, or OpenAI's list of error objects
  nlohmann::json metadata;  // null or an object of strings
  nlohmann::json plan;      // null, or the scheduler's plan (batch_plan.h)
  BatchCounts counts;       // filled when read
};

struct PendingRequest {
  int line = 0;
  std::string custom_id;
  std::string body;
  double prompt_bytes = 0;
  double max_output_tokens = 0;
};

// A finished request: its line of the output file (ok) or the error file.
struct RequestResult {
  int line = 0;
  bool ok = false;
  std::string output;  // the JSONL line, without its newline
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  double facility_wh = 0, usd = 0, g_co2e = 0;
  std::string site;
  double signal_unix_s = 0;
};

// The pending requests of a batch, to size what is left of it.
struct PendingStats {
  int64_t requests = 0;
  double mean_prompt_bytes = 0;
  double mean_output_tokens = 0;  // max_tokens, or `default_output_tokens` where not given
};

struct ListPage {
  std::string after;  // an id: the page starts after it
  int limit = 20;
  bool ascending = false;  // by creation
};

class BatchStore {
 public:
  static Result<std::unique_ptr<BatchStore>> open(const std::string& path);

  // Files.
  Status add_file(const FileRecord& file, std::string_view content);
  Result<std::optional<FileRecord>> file(const std::string& id);
  // The owner's files ("" for every owner's), of `purpose` unless "", one page; has_more says
  // whether another follows.
  Result<std::vector<FileRecord>> files(const std::string& owner, const std::string& purpose, const ListPage& page,
                                        bool& has_more);
  Result<std::string> content(const FileRecord& file);
  // False when there was no such file.
  Result<bool> delete_file(const std::string& id);
  // Deletes the files whose expires_at has passed; how many.
  Result<int64_t> purge_expired_files(int64_t now);

  // Batches.
  Status add_batch(const BatchRecord& batch);
  Result<std::optional<BatchRecord>> batch(const std::string& id);
  Result<std::vector<BatchRecord>> batches(const std::string& owner, const ListPage& page, bool& has_more);
  // Batches not yet in a final state (validating, in_progress, finalizing, cancelling), oldest first.
  Result<std::vector<BatchRecord>> active_batches();
  // validating -> in_progress with its requests.
  Status start(const std::string& id, const BatchInput& input, int64_t at);
  // validating -> failed with the errors.
  Status fail(const std::string& id, const nlohmann::json& errors, int64_t at);
  // Moves the batch from one of the statuses `from` to `to` and sets `<to>_at` (cancelling,
  // finalizing, ...); false when it was in none of them (another move came first).
  Result<bool> move(const std::string& id, std::initializer_list<std::string_view> from, const std::string& to,
                    int64_t at);
  Status set_plan(const std::string& id, const nlohmann::json& plan);

  // Requests.
  // Pending requests after `after_line`, in line order, at most `limit`.
  Result<std::vector<PendingRequest>> pending(const std::string& batch_id, int after_line, int limit);
  // Records a pending request's result; false when it was no longer pending.
  Result<bool> record(const std::string& batch_id, const RequestResult& result);
  // Every pending request becomes a failed one with OpenAI's error {code, message} (batch_expired,
  // batch_cancelled): `error_line(custom_id)` gives each one's line of the error file.
  Status close_pending(const std::string& batch_id, const std::function<std::string(int line, const std::string&)>& error_line);
  // Finishes a batch in one of the statuses `from`: creates its output and error files (each
  // only when it has lines), sets their ids and moves to `to` (completed, expired, cancelled),
  // in one transaction; false when it was in none of them.
  Result<bool> finish(const BatchRecord& batch, std::initializer_list<std::string_view> from, const std::string& to,
                      int64_t at);
  Result<BatchCounts> counts(const std::string& batch_id);
  Result<PendingStats> pending_stats(const std::string& batch_id, double default_output_tokens);
  Result<BatchUsage> usage(const std::string& batch_id);

  // A named number that outlives the process (the replay clock's position).
  Result<std::optional<double>> state(const std::string& name);
  Status set_state(const std::string& name, double value);

  const std::string& path() const { return path_; }

 private:
  BatchStore(SqliteDb db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  Result<std::vector<BatchRecord>> read_batches(const std::string& where, const std::vector<std::string>& args,
                                                int limit);
  Status fill_counts(BatchRecord& batch);
  Status exec_in_transaction(const std::function<Status()>& body);
  Result<bool> status_in(const std::string& id, std::initializer_list<std::string_view> statuses);

  std::mutex mutex_;
  SqliteDb db_;
  const std::string path_;
};

// A fresh object id: `prefix` ("file-", "batch_", "batch_req_") and 24 random hex digits.
std::string batch_object_id(std::string_view prefix);

}  // namespace tokengrid::gateway
