// Ledger: the durable record of every request a gateway replica served, one SQLite row each
// (schema in ledger_schema.h; docs/gateway.md, "Usage ledger").
//
// append() checks a record, queues it and returns at once. One writer thread commits what is
// queued in one transaction per batch (group commit: a batch is what queued while the previous
// one committed, up to max_batch_records; max_batch_delay_ms > 0 also lets a batch wait that
// long for more) and then calls each record's on_committed, so the gateway can hold a response's last bytes until its row is
// durable. A request_id already in the ledger keeps its first row and reports success, so a
// retried append is idempotent. The journal is a write-ahead log: with synchronous kNormal a
// committed row survives the process being killed (kill -9); kFull also survives power loss,
// at one fsync per batch. Opening recovers a log left by a killed process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "gateway/sqlite_db.h"
#include "gateway/usage_record.h"

namespace tokengrid::gateway {

struct LedgerOptions {
  int max_batch_records = 1024;
  // 0: no waiting. Batches fill by themselves under load (bench/README.md: a 1 ms wait cost a
  // lone record 1 ms and gained no throughput), as with PostgreSQL's commit_delay.
  double max_batch_delay_ms = 0;
  // Appends past this many uncommitted records are refused: the disk cannot keep up.
  int max_pending_records = 100000;
  enum class Synchronous { kNormal, kFull };
  Synchronous synchronous = Synchronous::kNormal;
  // How long a commit waits for another process's lock on the file before it fails.
  int busy_timeout_ms = 5000;
};

struct LedgerStats {
  uint64_t appended = 0;
  uint64_t committed = 0;  // a request_id already there counts, though it adds no row
  uint64_t failed = 0;     // records whose batch did not commit
  uint64_t batches = 0;
  uint64_t pending = 0;
};

class Ledger {
 public:
  // Called once per appended record, from the writer thread, after its batch committed (ok) or
  // failed (the reason). It must not call flush() or close().
  using Committed = std::function<void(Status)>;

  // Creates the ledger, or opens and migrates an existing one; refuses a path that is a
  // directory or a file that is not a ledger, saying which.
  static Result<std::unique_ptr<Ledger>> open(const std::string& path, LedgerOptions options = {});
  // Commits what is pending, then closes the file.
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Queues `record`. An error (empty request_id, a number that is not finite, the ledger
  // closed, too many pending) means it was not queued and on_committed will not be called.
  Status append(UsageRecord record, Committed on_committed);
  // Waits until every record appended before this call is committed or failed, and their
  // callbacks have run; the first failure since the previous flush, or ok.
  Status flush();
  // Stops taking appends, commits what is pending and closes the file. Idempotent.
  void close();

  LedgerStats stats() const;
  const std::string& path() const { return path_; }

 private:
  struct Pending {
    UsageRecord record;
    Committed on_committed;
    std::chrono::steady_clock::time_point queued;
  };

  // The writer thread's; statements finish before their connection closes.
  struct Connection {
    SqliteDb db;
    SqliteStatement insert;
  };

  Ledger(std::unique_ptr<Connection> connection, LedgerOptions options);
  void write_loop();
  // Takes the next batch off the queue once it is due; empty when closing with nothing left.
  void wait_for_batch(std::unique_lock<std::mutex>& lock, std::vector<Pending>& batch);
  Status commit(const std::vector<Pending>& batch);

  const std::string path_;
  const LedgerOptions options_;
  std::unique_ptr<Connection> connection_;  // null once closed

  mutable std::mutex mu_;
  std::condition_variable wake_writer_;
  std::condition_variable wake_flushers_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  uint64_t appended_ = 0;  // records appended so far; the last one's sequence number
  uint64_t done_ = 0;      // records whose batch finished and whose callbacks ran
  Status failure_since_flush_;
  LedgerStats stats_;
  std::thread writer_;
};

}  // namespace tokengrid::gateway
