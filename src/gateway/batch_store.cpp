#include "gateway/batch_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "http/openai_protocol.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

constexpr int32_t kBatchStoreApplicationId = 0x54474254;  // "TGBT"
constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  content_kind INTEGER NOT NULL,
  batch_id TEXT NOT NULL,
  data BLOB
);
CREATE INDEX files_by_expiry ON files(expires_at);
CREATE TABLE batches (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,
  model TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  in_progress_at INTEGER, finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER,
  expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER,
  output_file_id TEXT NOT NULL,
  error_file_id TEXT NOT NULL,
  output_expires_after_s INTEGER,
  errors TEXT NOT NULL,
  metadata TEXT NOT NULL,
  plan TEXT NOT NULL
);
CREATE TABLE requests (
  batch_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  body TEXT NOT NULL,
  prompt_bytes REAL NOT NULL,
  max_output_tokens REAL NOT NULL,
  state INTEGER NOT NULL,
  output TEXT,
  prompt_tokens INTEGER, completion_tokens INTEGER, cached_tokens INTEGER,
  facility_wh REAL, usd REAL, g_co2e REAL, site TEXT, signal_unix_s REAL,
  PRIMARY KEY (batch_id, line),
  UNIQUE (batch_id, custom_id)
);
CREATE INDEX requests_by_state ON requests(batch_id, state, line);
CREATE TABLE state (name TEXT PRIMARY KEY, value REAL NOT NULL);
)sql";

// A request's state: 0 while it waits (written as the literal `state = 0` in the queries), then
// one of these.
constexpr int kSucceeded = 1, kFailed = 2;

constexpr const char* kTimestampColumns[] = {"in_progress_at", "finalizing_at", "completed_at", "failed_at",
                                             "expired_at",     "cancelling_at", "cancelled_at"};

Status check_timestamp(const std::string& status) {
  const std::string column = status + "_at";
  if (std::find(std::begin(kTimestampColumns), std::end(kTimestampColumns), column) == std::end(kTimestampColumns))
    return internal_error("no timestamp for a batch status '" + status + "'");
  return Status::ok();
}

const std::string kWhatToDo = "give the path of a tokengrid batch store, or of a new file for a new one";

Status check_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return invalid_argument(path + " is a directory: give the path of a batch store file inside it, such as " +
                            (fs::path(path) / "batches.db").string());
  const fs::path dir = fs::absolute(path, ec).parent_path();
  if (!fs::is_directory(dir, ec))
    return not_found("cannot create the batch store " + path + ": the directory " + dir.string() +
                     " does not exist; create it first");
  return Status::ok();
}

Status create_or_check_schema(SqliteDb& db) {
  TG_ASSIGN_OR_RETURN(int64_t app_id, db.query_int("PRAGMA application_id", "reading its header"));
  TG_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version", "reading its version"));
  TG_ASSIGN_OR_RETURN(int64_t tables, db.query_int("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'", "listing its tables"));
  if (app_id == kBatchStoreApplicationId) {
    if (version > kSchemaVersion)
      return unsupported(db.path() + " was written by a newer tokengrid (batch store version " + std::to_string(version) +
                         "; this one knows up to " + std::to_string(kSchemaVersion) + "): use that tokengrid or a newer one");
    return Status::ok();
  }
  if (app_id != 0 || tables != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", static_cast<uint32_t>(app_id));
    return invalid_argument(db.path() + " is another application's SQLite database (application_id " + hex + ", " +
                            std::to_string(tables) + " tables), not a tokengrid batch store: " + kWhatToDo);
  }
  TG_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE", "locking it to create the schema"));
  Status s = db.exec(kSchema, "creating the batch store's tables");
  if (s.is_ok())
    s = db.exec("PRAGMA application_id = " + std::to_string(kBatchStoreApplicationId) +
                    "; PRAGMA user_version = " + std::to_string(kSchemaVersion),
                "marking it as a batch store");
  if (s.is_ok()) return db.exec("COMMIT", "committing the schema");
  (void)db.exec("ROLLBACK", "rolling back the schema");
  return s;
}

std::optional<int64_t> optional_int(const SqliteStatement& st, int column) {
  if (st.column_is_null(column)) return std::nullopt;
  return st.column_int(column);
}

void bind_optional(SqliteStatement& st, int index, const std::optional<int64_t>& v) {
  if (v) st.bind(index, *v);
}

// A file's row; a batch's result file has no data of its own (its lines are the results).
Status insert_file(SqliteDb& db, const FileRecord& f, std::optional<std::string_view> content) {
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db, "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, "
                                                   "expires_at, content_kind, batch_id, data) VALUES (?,?,?,?,?,?,?,?,?,?)"));
  st.bind(1, f.id);
  st.bind(2, f.owner);
  st.bind(3, f.filename);
  st.bind(4, f.purpose);
  st.bind(5, f.bytes);
  st.bind(6, f.created_at);
  bind_optional(st, 7, f.expires_at);
  st.bind(8, static_cast<int64_t>(f.content));
  st.bind(9, f.batch_id);
  if (content) st.bind(10, *content);
  return st.step("storing the file " + f.id).status();
}

json json_column(const SqliteStatement& st, int column) { return json::parse(st.column_text(column), nullptr, false); }

constexpr const char* kFileColumns = "id, owner, filename, purpose, bytes, created_at, expires_at, content_kind, batch_id";

FileRecord read_file_row(const SqliteStatement& st) {
  FileRecord f;
  f.id = st.column_text(0);
  f.owner = st.column_text(1);
  f.filename = st.column_text(2);
  f.purpose = st.column_text(3);
  f.bytes = st.column_int(4);
  f.created_at = st.column_int(5);
  f.expires_at = optional_int(st, 6);
  f.content = static_cast<FileContent>(st.column_int(7));
  f.batch_id = st.column_text(8);
  return f;
}

constexpr const char* kBatchColumns =
    "id, owner, endpoint, input_file_id, completion_window, status, model, created_at, expires_at, in_progress_at, "
    "finalizing_at, completed_at, failed_at, expired_at, cancelling_at, cancelled_at, output_file_id, error_file_id, "
    "output_expires_after_s, errors, metadata, plan";

BatchRecord read_batch_row(const SqliteStatement& st) {
  BatchRecord b;
  b.id = st.column_text(0);
  b.owner = st.column_text(1);
  b.endpoint = st.column_text(2);
  b.input_file_id = st.column_text(3);
  b.completion_window = st.column_text(4);
  b.status = st.column_text(5);
  b.model = st.column_text(6);
  b.created_at = st.column_int(7);
  b.expires_at = st.column_int(8);
  std::optional<int64_t>* stamps[] = {&b.in_progress_at, &b.finalizing_at, &b.completed_at, &b.failed_at,
                                      &b.expired_at,     &b.cancelling_at, &b.cancelled_at};
  for (int i = 0; i < 7; ++i) *stamps[i] = optional_int(st, 9 + i);
  b.output_file_id = st.column_text(16);
  b.error_file_id = st.column_text(17);
  b.output_expires_after_s = optional_int(st, 18);
  b.errors = json_column(st, 19);
  b.metadata = json_column(st, 20);
  b.plan = json_column(st, 21);
  return b;
}

}  // namespace

std::string batch_object_id(std::string_view prefix) {
  return std::string(prefix) + http::new_response_id("").substr(1);
}

Result<std::unique_ptr<BatchStore>> BatchStore::open(const std::string& path) {
  TG_RETURN_IF_ERROR(check_path(path));
  TG_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 5000));
  TG_RETURN_IF_ERROR(db.exec("PRAGMA journal_mode = WAL", "switching to a write-ahead log"));
  TG_RETURN_IF_ERROR(db.exec("PRAGMA synchronous = NORMAL", "setting its durability"));
  TG_RETURN_IF_ERROR(create_or_check_schema(db));
  return std::unique_ptr<BatchStore>(new BatchStore(std::move(db), path));
}

Status BatchStore::exec_in_transaction(const std::function<Status()>& body) {
  TG_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE", "beginning a transaction"));
  Status s = body();
  if (s.is_ok()) s = db_.exec("COMMIT", "committing");
  if (!s.is_ok()) (void)db_.exec("ROLLBACK", "rolling back");
  return s;
}

Status BatchStore::add_file(const FileRecord& f, std::string_view content) {
  std::lock_guard<std::mutex> lock(mutex_);
  return insert_file(db_, f, content);
}

Result<std::optional<FileRecord>> BatchStore::file(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, std::string("SELECT ") + kFileColumns + " FROM files WHERE id = ?"));
  st.bind(1, id);
  TG_ASSIGN_OR_RETURN(bool row, st.step("reading a file"));
  if (!row) return std::optional<FileRecord>();
  return std::optional<FileRecord>(read_file_row(st));
}

Result<std::vector<FileRecord>> BatchStore::files(const std::string& owner, const std::string& purpose,
                                                  const ListPage& page, bool& has_more) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string order = page.ascending ? "ASC" : "DESC";
  const std::string cmp = page.ascending ? ">" : "<";
  const std::string sql = std::string("SELECT ") + kFileColumns +
                          " FROM files WHERE (?1 = '' OR owner = ?1) AND (?2 = '' OR purpose = ?2)"
                          " AND (?3 = '' OR seq " + cmp + " (SELECT seq FROM files WHERE id = ?3))"
                          " ORDER BY seq " + order + " LIMIT ?4";
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, sql));
  st.bind(1, owner);
  st.bind(2, purpose);
  st.bind(3, page.after);
  st.bind(4, static_cast<int64_t>(page.limit) + 1);
  std::vector<FileRecord> out;
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, st.step("listing files"));
    if (!row) break;
    out.push_back(read_file_row(st));
  }
  has_more = out.size() > static_cast<size_t>(page.limit);
  if (has_more) out.pop_back();
  return out;
}

Result<std::string> BatchStore::content(const FileRecord& f) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (f.content == FileContent::kUpload) {
    TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, "SELECT data FROM files WHERE id = ?"));
    st.bind(1, f.id);
    TG_ASSIGN_OR_RETURN(bool row, st.step("reading a file's content"));
    if (!row) return not_found("the file " + f.id + " was deleted");
    return st.column_text(0);
  }
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(
                                              db_, "SELECT output FROM requests WHERE batch_id = ? AND state = ? ORDER BY line"));
  st.bind(1, f.batch_id);
  st.bind(2, static_cast<int64_t>(f.content == FileContent::kBatchOutput ? kSucceeded : kFailed));
  std::string out;
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, st.step("reading a batch's results"));
    if (!row) break;
    out += st.column_text(0);
    out += '\n';
  }
  return out;
}

Result<bool> BatchStore::delete_file(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, "DELETE FROM files WHERE id = ?"));
  st.bind(1, id);
  TG_RETURN_IF_ERROR(st.step("deleting a file").status());
  return sqlite3_changes(db_.handle()) > 0;
}

Result<int64_t> BatchStore::purge_expired_files(int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "DELETE FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?"));
  st.bind(1, now);
  TG_RETURN_IF_ERROR(st.step("deleting expired files").status());
  return static_cast<int64_t>(sqlite3_changes(db_.handle()));
}

Status BatchStore::add_batch(const BatchRecord& b) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "INSERT INTO batches (id, owner, endpoint, input_file_id, "
                                                    "completion_window, status, model, created_at, expires_at, "
                                                    "output_file_id, error_file_id, output_expires_after_s, errors, "
                                                    "metadata, plan) VALUES (?,?,?,?,?,?,?,?,?,'','',?,?,?,?)"));
  st.bind(1, b.id);
  st.bind(2, b.owner);
  st.bind(3, b.endpoint);
  st.bind(4, b.input_file_id);
  st.bind(5, b.completion_window);
  st.bind(6, b.status);
  st.bind(7, b.model);
  st.bind(8, b.created_at);
  st.bind(9, b.expires_at);
  bind_optional(st, 10, b.output_expires_after_s);
  st.bind(11, b.errors.dump());
  st.bind(12, b.metadata.dump());
  st.bind(13, b.plan.dump());
  return st.step("storing the batch " + b.id).status();
}

Result<std::vector<BatchRecord>> BatchStore::read_batches(const std::string& where, const std::vector<std::string>& args,
                                                          int limit) {
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, std::string("SELECT ") + kBatchColumns +
                                                                            " FROM batches " + where + " LIMIT ?"));
  for (size_t i = 0; i < args.size(); ++i) st.bind(static_cast<int>(i) + 1, args[i]);
  st.bind(static_cast<int>(args.size()) + 1, static_cast<int64_t>(limit));
  std::vector<BatchRecord> out;
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, st.step("reading batches"));
    if (!row) break;
    out.push_back(read_batch_row(st));
  }
  for (BatchRecord& b : out) TG_RETURN_IF_ERROR(fill_counts(b));
  return out;
}

Status BatchStore::fill_counts(BatchRecord& b) {
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "SELECT COUNT(*), COALESCE(SUM(state = 1), 0), COALESCE(SUM(state = 2), 0), "
                                                    "COALESCE(SUM(state = 0), 0) FROM requests WHERE batch_id = ?"));
  st.bind(1, b.id);
  TG_RETURN_IF_ERROR(st.step("counting a batch's requests").status());
  b.counts = {st.column_int(0), st.column_int(1), st.column_int(2), st.column_int(3)};
  return Status::ok();
}

Result<std::optional<BatchRecord>> BatchStore::batch(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(std::vector<BatchRecord> found, read_batches("WHERE id = ?", {id}, 1));
  if (found.empty()) return std::optional<BatchRecord>();
  return std::optional<BatchRecord>(std::move(found.front()));
}

Result<std::vector<BatchRecord>> BatchStore::batches(const std::string& owner, const ListPage& page, bool& has_more) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string where =
      std::string("WHERE (?1 = '' OR owner = ?1) AND (?2 = '' OR seq ") + (page.ascending ? ">" : "<") +
      " (SELECT seq FROM batches WHERE id = ?2)) ORDER BY seq " + (page.ascending ? "ASC" : "DESC");
  TG_ASSIGN_OR_RETURN(std::vector<BatchRecord> out, read_batches(where, {owner, page.after}, page.limit + 1));
  has_more = out.size() > static_cast<size_t>(page.limit);
  if (has_more) out.pop_back();
  return out;
}

Result<std::vector<BatchRecord>> BatchStore::active_batches() {
  std::lock_guard<std::mutex> lock(mutex_);
  return read_batches("WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling') ORDER BY seq", {},
                      1 << 30);
}

Status BatchStore::start(const std::string& id, const BatchInput& input, int64_t at) {
  std::lock_guard<std::mutex> lock(mutex_);
  return exec_in_transaction([&]() -> Status {
    TG_ASSIGN_OR_RETURN(SqliteStatement insert,
                        SqliteStatement::prepare(db_, "INSERT INTO requests (batch_id, line, custom_id, body, prompt_bytes, "
                                                      "max_output_tokens, state) VALUES (?,?,?,?,?,?,0)"));
    for (const BatchInputLine& r : input.requests) {
      insert.reset();
      insert.bind(1, id);
      insert.bind(2, static_cast<int64_t>(r.line));
      insert.bind(3, r.custom_id);
      insert.bind(4, r.body);
      insert.bind(5, r.prompt_bytes);
      insert.bind(6, r.max_output_tokens);
      TG_RETURN_IF_ERROR(insert.step("storing the batch's requests").status());
    }
    TG_ASSIGN_OR_RETURN(SqliteStatement update,
                        SqliteStatement::prepare(db_, "UPDATE batches SET status = 'in_progress', in_progress_at = ?, "
                                                      "model = ? WHERE id = ? AND status = 'validating'"));
    update.bind(1, at);
    update.bind(2, input.model);
    update.bind(3, id);
    return update.step("starting the batch").status();
  });
}

Status BatchStore::fail(const std::string& id, const json& errors, int64_t at) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(
                                              db_, "UPDATE batches SET status = 'failed', failed_at = ?, errors = ? WHERE id = ?"));
  st.bind(1, at);
  st.bind(2, errors.dump());
  st.bind(3, id);
  return st.step("failing the batch").status();
}

Result<bool> BatchStore::status_in(const std::string& id, std::initializer_list<std::string_view> statuses) {
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, "SELECT status FROM batches WHERE id = ?"));
  st.bind(1, id);
  TG_ASSIGN_OR_RETURN(bool row, st.step("reading the batch's status"));
  if (!row) return false;
  const std::string status = st.column_text(0);
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

Result<bool> BatchStore::move(const std::string& id, std::initializer_list<std::string_view> from, const std::string& to,
                              int64_t at) {
  TG_RETURN_IF_ERROR(check_timestamp(to));
  std::lock_guard<std::mutex> lock(mutex_);
  bool moved = false;
  TG_RETURN_IF_ERROR(exec_in_transaction([&]() -> Status {
    TG_ASSIGN_OR_RETURN(moved, status_in(id, from));
    if (!moved) return Status::ok();
    TG_ASSIGN_OR_RETURN(SqliteStatement st,
                        SqliteStatement::prepare(db_, "UPDATE batches SET status = ?, " + to + "_at = ? WHERE id = ?"));
    st.bind(1, to);
    st.bind(2, at);
    st.bind(3, id);
    return st.step("changing the batch's status").status();
  }));
  return moved;
}

Status BatchStore::set_plan(const std::string& id, const json& plan) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, "UPDATE batches SET plan = ? WHERE id = ?"));
  st.bind(1, plan.dump());
  st.bind(2, id);
  return st.step("storing the batch's plan").status();
}

Result<std::vector<PendingRequest>> BatchStore::pending(const std::string& batch_id, int after_line, int limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "SELECT line, custom_id, body, prompt_bytes, max_output_tokens FROM requests "
                                                    "WHERE batch_id = ? AND state = 0 AND line > ? ORDER BY line LIMIT ?"));
  st.bind(1, batch_id);
  st.bind(2, static_cast<int64_t>(after_line));
  st.bind(3, static_cast<int64_t>(limit));
  std::vector<PendingRequest> out;
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, st.step("reading pending requests"));
    if (!row) break;
    out.push_back({static_cast<int>(st.column_int(0)), st.column_text(1), st.column_text(2), st.column_double(3),
                   st.column_double(4)});
  }
  return out;
}

Result<bool> BatchStore::record(const std::string& batch_id, const RequestResult& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "UPDATE requests SET state = ?, output = ?, prompt_tokens = ?, "
                                                    "completion_tokens = ?, cached_tokens = ?, facility_wh = ?, usd = ?, "
                                                    "g_co2e = ?, site = ?, signal_unix_s = ? "
                                                    "WHERE batch_id = ? AND line = ? AND state = 0"));
  st.bind(1, static_cast<int64_t>(r.ok ? kSucceeded : kFailed));
  st.bind(2, r.output);
  st.bind(3, r.prompt_tokens);
  st.bind(4, r.completion_tokens);
  st.bind(5, r.cached_tokens);
  st.bind(6, r.facility_wh);
  st.bind(7, r.usd);
  st.bind(8, r.g_co2e);
  st.bind(9, r.site);
  st.bind(10, r.signal_unix_s);
  st.bind(11, batch_id);
  st.bind(12, static_cast<int64_t>(r.line));
  TG_RETURN_IF_ERROR(st.step("recording a request's result").status());
  return sqlite3_changes(db_.handle()) > 0;
}

Status BatchStore::close_pending(const std::string& batch_id,
                                 const std::function<std::string(int, const std::string&)>& error_line) {
  std::lock_guard<std::mutex> lock(mutex_);
  return exec_in_transaction([&]() -> Status {
    TG_ASSIGN_OR_RETURN(SqliteStatement select, SqliteStatement::prepare(
                                                    db_, "SELECT line, custom_id FROM requests WHERE batch_id = ? AND state = 0"));
    select.bind(1, batch_id);
    std::vector<std::pair<int, std::string>> open;
    while (true) {
      TG_ASSIGN_OR_RETURN(bool row, select.step("reading pending requests"));
      if (!row) break;
      open.emplace_back(static_cast<int>(select.column_int(0)), select.column_text(1));
    }
    TG_ASSIGN_OR_RETURN(SqliteStatement update,
                        SqliteStatement::prepare(db_, "UPDATE requests SET state = 2, output = ? WHERE batch_id = ? AND line = ?"));
    for (const auto& [line, custom_id] : open) {
      update.reset();
      update.bind(1, error_line(line, custom_id));
      update.bind(2, batch_id);
      update.bind(3, static_cast<int64_t>(line));
      TG_RETURN_IF_ERROR(update.step("closing a pending request").status());
    }
    return Status::ok();
  });
}

Result<bool> BatchStore::finish(const BatchRecord& b, std::initializer_list<std::string_view> from,
                                const std::string& status, int64_t at) {
  TG_RETURN_IF_ERROR(check_timestamp(status));
  std::lock_guard<std::mutex> lock(mutex_);
  bool moved = false;
  TG_RETURN_IF_ERROR(exec_in_transaction([&]() -> Status {
    TG_ASSIGN_OR_RETURN(moved, status_in(b.id, from));
    if (!moved) return Status::ok();
    std::string ids[2];
    for (int state : {kSucceeded, kFailed}) {
      TG_ASSIGN_OR_RETURN(SqliteStatement count,
                          SqliteStatement::prepare(db_, "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(output AS BLOB)) + 1), 0) "
                                                        "FROM requests WHERE batch_id = ? AND state = ?"));
      count.bind(1, b.id);
      count.bind(2, static_cast<int64_t>(state));
      TG_RETURN_IF_ERROR(count.step("sizing the batch's results").status());
      if (count.column_int(0) == 0) continue;
      FileRecord f;
      f.id = batch_object_id("file-");
      f.owner = b.owner;
      const bool ok = state == kSucceeded;
      f.filename = b.id + (ok ? "_output.jsonl" : "_error.jsonl");
      f.purpose = "batch_output";
      f.bytes = count.column_int(1);
      f.created_at = at;
      if (b.output_expires_after_s) f.expires_at = at + *b.output_expires_after_s;
      f.content = ok ? FileContent::kBatchOutput : FileContent::kBatchErrors;
      f.batch_id = b.id;
      TG_RETURN_IF_ERROR(insert_file(db_, f, std::nullopt));
      ids[ok ? 0 : 1] = f.id;
    }
    TG_ASSIGN_OR_RETURN(SqliteStatement update,
                        SqliteStatement::prepare(db_, "UPDATE batches SET status = ?, " + status +
                                                          "_at = ?, output_file_id = ?, error_file_id = ? WHERE id = ?"));
    update.bind(1, status);
    update.bind(2, at);
    update.bind(3, ids[0]);
    update.bind(4, ids[1]);
    update.bind(5, b.id);
    return update.step("finishing the batch").status();
  }));
  return moved;
}

Result<BatchCounts> BatchStore::counts(const std::string& batch_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  BatchRecord b;
  b.id = batch_id;
  TG_RETURN_IF_ERROR(fill_counts(b));
  return b.counts;
}

Result<PendingStats> BatchStore::pending_stats(const std::string& batch_id, double default_output_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "SELECT COUNT(*), COALESCE(AVG(prompt_bytes), 0), COALESCE(AVG(CASE WHEN "
                                                    "max_output_tokens > 0 THEN max_output_tokens ELSE ? END), 0) "
                                                    "FROM requests WHERE batch_id = ? AND state = 0"));
  st.bind(1, default_output_tokens);
  st.bind(2, batch_id);
  TG_RETURN_IF_ERROR(st.step("sizing a batch's pending requests").status());
  return PendingStats{st.column_int(0), st.column_double(1), st.column_double(2)};
}

Result<BatchUsage> BatchStore::usage(const std::string& batch_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
                                                    "COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(facility_wh), 0), "
                                                    "COALESCE(SUM(usd), 0), COALESCE(SUM(g_co2e), 0), "
                                                    "COUNT(DISTINCT CAST(signal_unix_s / 3600 AS INTEGER)) "
                                                    "FROM requests WHERE batch_id = ? AND state > 0 AND site IS NOT NULL"));
  st.bind(1, batch_id);
  TG_RETURN_IF_ERROR(st.step("summing a batch's usage").status());
  return BatchUsage{st.column_int(0),    st.column_int(1),    st.column_int(2), st.column_double(3),
                    st.column_double(4), st.column_double(5), st.column_int(6)};
}

Result<std::optional<double>> BatchStore::state(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st, SqliteStatement::prepare(db_, "SELECT value FROM state WHERE name = ?"));
  st.bind(1, name);
  TG_ASSIGN_OR_RETURN(bool row, st.step("reading the store's state"));
  if (!row) return std::optional<double>();
  return std::optional<double>(st.column_double(0));
}

Status BatchStore::set_state(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  TG_ASSIGN_OR_RETURN(SqliteStatement st,
                      SqliteStatement::prepare(db_, "INSERT INTO state (name, value) VALUES (?, ?) "
                                                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value"));
  st.bind(1, name);
  st.bind(2, value);
  return st.step("writing the store's state").status();
}

}  // namespace tokengrid::gateway
