#include "gateway/ledger.h"

#include <sqlite3.h>

#include <cmath>
#include <type_traits>
#include <variant>

#include "gateway/ledger_schema.h"

namespace tokengrid::gateway {
namespace {

std::string insert_sql() {
  std::string names, params;
  for (const LedgerColumn& c : ledger_columns()) {
    names += std::string(names.empty() ? "" : ", ") + "\"" + c.name + "\"";
    params += params.empty() ? "?" : ", ?";
  }
  return "INSERT OR IGNORE INTO usage (" + names + ") VALUES (" + params + ")";
}

void bind_record(SqliteStatement& stmt, const UsageRecord& r) {
  int index = 1;
  for (const LedgerColumn& c : ledger_columns()) {
    std::visit(
        [&](auto member) {
          const auto& v = r.*member;
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
            stmt.bind(index, std::string_view(v));
          else if constexpr (std::is_same_v<std::decay_t<decltype(v)>, double>)
            stmt.bind(index, v);
          else
            stmt.bind(index, static_cast<int64_t>(v));
        },
        c.field);
    ++index;
  }
}

// SQLite stores NaN as NULL, which the schema refuses; refusing the record here keeps the
// batch it would have joined.
Status check_record(const UsageRecord& r) {
  if (r.request_id.empty()) return invalid_argument("a usage record needs a request_id (the response id)");
  for (const LedgerColumn& c : ledger_columns()) {
    if (const auto* member = std::get_if<double UsageRecord::*>(&c.field); member && !std::isfinite(r.**member))
      return invalid_argument("usage record " + r.request_id + ": " + c.name + " is not a finite number");
  }
  return Status::ok();
}

Status check_options(const LedgerOptions& o) {
  if (o.max_batch_records < 1 || o.max_batch_records > 1000000)
    return invalid_argument("ledger max_batch_records must be between 1 and 1000000, got " +
                            std::to_string(o.max_batch_records));
  if (!(o.max_batch_delay_ms >= 0 && o.max_batch_delay_ms <= 1000))
    return invalid_argument("ledger max_batch_delay_ms must be between 0 and 1000");
  if (o.max_pending_records < o.max_batch_records)
    return invalid_argument("ledger max_pending_records must be at least max_batch_records");
  if (o.busy_timeout_ms < 0) return invalid_argument("ledger busy_timeout_ms must not be negative");
  return Status::ok();
}

double system_now_unix_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(const std::string& path, LedgerOptions options) {
  TG_RETURN_IF_ERROR(check_options(options));
  TG_RETURN_IF_ERROR(check_ledger_file(path, /*must_exist=*/false));
  TG_ASSIGN_OR_RETURN(SqliteDb db,
                      SqliteDb::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options.busy_timeout_ms));
  TG_RETURN_IF_ERROR(create_or_migrate_ledger(db, system_now_unix_s()));
  TG_ASSIGN_OR_RETURN(std::string mode, db.query_text("PRAGMA journal_mode = WAL", "turning on its write-ahead log"));
  if (mode != "wal")
    return unsupported(path + ": SQLite cannot keep a write-ahead log there (journal mode '" + mode +
                       "'): put the ledger on a local file system");
  const bool full = options.synchronous == LedgerOptions::Synchronous::kFull;
  TG_RETURN_IF_ERROR(db.exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", "setting synchronous"));
  TG_ASSIGN_OR_RETURN(SqliteStatement insert, SqliteStatement::prepare(db, insert_sql()));
  auto connection = std::make_unique<Connection>(Connection{std::move(db), std::move(insert)});
  return std::unique_ptr<Ledger>(new Ledger(std::move(connection), options));
}

Ledger::Ledger(std::unique_ptr<Connection> connection, LedgerOptions options)
    : path_(connection->db.path()), options_(options), connection_(std::move(connection)) {
  writer_ = std::thread([this] { write_loop(); });
}

Ledger::~Ledger() { close(); }

Status Ledger::append(UsageRecord record, Committed on_committed) {
  TG_RETURN_IF_ERROR(check_record(record));
  std::lock_guard lock(mu_);
  if (closing_) return unavailable("the ledger " + path_ + " is closed: the gateway is shutting down");
  if (queue_.size() >= static_cast<size_t>(options_.max_pending_records))
    return resource_exhausted("the ledger " + path_ + " has " + std::to_string(queue_.size()) +
                              " records waiting to commit: its disk cannot keep up; put it on a faster disk");
  queue_.push_back({std::move(record), std::move(on_committed), std::chrono::steady_clock::now()});
  ++appended_;
  ++stats_.appended;
  // The writer waits for a first record, then for a full batch.
  if (queue_.size() == 1 || queue_.size() == static_cast<size_t>(options_.max_batch_records))
    wake_writer_.notify_one();
  return Status::ok();
}

Status Ledger::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = appended_;
  wake_writer_.notify_one();
  wake_flushers_.wait(lock, [&] { return done_ >= target; });
  return std::exchange(failure_since_flush_, Status::ok());
}

void Ledger::close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
  connection_.reset();
}

LedgerStats Ledger::stats() const {
  std::lock_guard lock(mu_);
  LedgerStats s = stats_;
  s.pending = queue_.size();
  return s;
}

void Ledger::wait_for_batch(std::unique_lock<std::mutex>& lock, std::vector<Pending>& batch) {
  wake_writer_.wait(lock, [&] { return !queue_.empty() || closing_; });
  if (queue_.empty()) return;
  const auto due = queue_.front().queued + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                               std::chrono::duration<double, std::milli>(options_.max_batch_delay_ms));
  const size_t full = static_cast<size_t>(options_.max_batch_records);
  wake_writer_.wait_until(lock, due, [&] { return queue_.size() >= full || closing_; });
  const size_t n = std::min(queue_.size(), full);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void Ledger::write_loop() {
  std::vector<Pending> batch;
  batch.reserve(options_.max_batch_records);
  std::unique_lock lock(mu_);
  while (true) {
    wait_for_batch(lock, batch);
    if (batch.empty()) return;
    lock.unlock();
    const Status s = commit(batch);
    for (Pending& p : batch)
      if (p.on_committed) p.on_committed(s);
    lock.lock();
    done_ += batch.size();
    ++stats_.batches;
    (s.is_ok() ? stats_.committed : stats_.failed) += batch.size();
    if (!s.is_ok() && failure_since_flush_.is_ok()) failure_since_flush_ = s;
    batch.clear();
    wake_flushers_.notify_all();
  }
}

Status Ledger::commit(const std::vector<Pending>& batch) {
  SqliteDb& db = connection_->db;
  SqliteStatement& insert = connection_->insert;
  TG_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE", "starting a batch"));
  Status s;
  for (const Pending& p : batch) {
    bind_record(insert, p.record);
    s = insert.step("writing a usage record").status();
    insert.reset();
    if (!s.is_ok()) break;
  }
  if (s.is_ok()) s = db.exec("COMMIT", "committing a batch");
  if (!s.is_ok()) (void)db.exec("ROLLBACK", "rolling back a failed batch");
  return s;
}

}  // namespace tokengrid::gateway
