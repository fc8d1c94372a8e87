#include "gateway/ledger.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <future>
#include <semaphore>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "gateway/ledger_test_util.h"
#include "gateway/usage_totals.h"

namespace tokengrid::gateway {
namespace {

using LedgerTest = LedgerTestDir;

// Counts callbacks and remembers the first failure.
struct Callbacks {
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::mutex mu;
  Status first_failure;

  Ledger::Committed make() {
    return [this](Status s) {
      if (s.is_ok()) {
        ++ok;
        return;
      }
      std::lock_guard lock(mu);
      if (failed++ == 0) first_failure = s;
    };
  }
};

// Holds the writer thread inside one record's callback, so that others queue, until release().
class WriterHold {
 public:
  explicit WriterHold(Ledger& ledger) {
    EXPECT_TRUE(ledger.append(test_record("held"), [this](Status) {
      entered_.set_value();
      released_.wait();
    }));
    entered_.get_future().wait();
  }
  void release() { release_.set_value(); }

 private:
  std::promise<void> entered_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

TEST_F(LedgerTest, CommittedRecordsReadBackFieldForField) {
  auto ledger = Ledger::open(file("usage.db"));
  ASSERT_TRUE(ledger.is_ok()) << ledger.status().to_string();
  Callbacks cb;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-" + std::to_string(i), i), cb.make()));
  ASSERT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(cb.ok, 10);
  for (int i = 0; i < 10; ++i) {
    StoredRows rows = stored_rows(file("usage.db"), "chatcmpl-" + std::to_string(i));
    ASSERT_EQ(rows.count, 1);
    EXPECT_EQ(*rows.first, test_record("chatcmpl-" + std::to_string(i), i));
  }
}

TEST_F(LedgerTest, SameRequestIdTwiceKeepsTheFirstRowAndReportsBothCommitted) {
  auto ledger = Ledger::open(file("usage.db"));
  ASSERT_TRUE(ledger.is_ok());
  Callbacks cb;
  ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-1", 1), cb.make()));
  ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-1", 7), cb.make()));  // same batch
  ASSERT_TRUE((*ledger)->flush().is_ok());
  ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-1", 9), cb.make()));  // a later batch
  ASSERT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(cb.ok, 3);
  StoredRows rows = stored_rows(file("usage.db"), "chatcmpl-1");
  ASSERT_EQ(rows.count, 1);
  EXPECT_EQ(rows.first->prompt_tokens, 100);
}

TEST_F(LedgerTest, CallbackRunsOnTheWriterThreadOnceTheRowIsVisibleToOtherConnections) {
  auto ledger = Ledger::open(file("usage.db"));
  ASSERT_TRUE(ledger.is_ok());
  std::promise<std::pair<std::thread::id, int64_t>> seen;
  ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-x"), [&](Status s) {
    EXPECT_TRUE(s.is_ok());
    seen.set_value({std::this_thread::get_id(), stored_rows(file("usage.db"), "chatcmpl-x").count});
  }));
  auto [thread, count] = seen.get_future().get();
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_EQ(count, 1);
}

TEST_F(LedgerTest, GroupCommitPutsWhatQueuedDuringACommitInOneTransaction) {
  LedgerOptions options;
  options.max_batch_records = 100;
  auto ledger = Ledger::open(file("usage.db"), options);
  ASSERT_TRUE(ledger.is_ok());
  WriterHold hold(**ledger);
  Callbacks cb;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*ledger)->append(test_record("id-" + std::to_string(i)), cb.make()));
  EXPECT_EQ((*ledger)->stats().pending, 1000u);
  hold.release();
  ASSERT_TRUE((*ledger)->flush().is_ok());
  const LedgerStats stats = (*ledger)->stats();
  EXPECT_EQ(stats.committed, 1001u);
  EXPECT_EQ(stats.pending, 0u);
  EXPECT_EQ(stats.batches, 1u + 10u);  // the first alone, then full batches of 100
  EXPECT_EQ(cb.ok, 1000);
}

TEST_F(LedgerTest, OneRecordBatchesCommitEachRowAlone) {
  LedgerOptions options;
  options.max_batch_records = 1;
  auto ledger = Ledger::open(file("usage.db"), options);
  ASSERT_TRUE(ledger.is_ok());
  Callbacks cb;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*ledger)->append(test_record("id-" + std::to_string(i)), cb.make()));
  ASSERT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ((*ledger)->stats().batches, 50u);
  EXPECT_EQ(cb.ok, 50);
}

TEST_F(LedgerTest, CloseCommitsWhatIsPendingAndLaterAppendsAreRefused) {
  LedgerOptions options;
  options.max_batch_delay_ms = 1000;  // close must not wait for the batch to fill
  auto ledger = Ledger::open(file("usage.db"), options);
  ASSERT_TRUE(ledger.is_ok());
  Callbacks cb;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*ledger)->append(test_record("id-" + std::to_string(i)), cb.make()));
  (*ledger)->close();
  EXPECT_EQ(cb.ok, 20);
  EXPECT_EQ(stored_rows(file("usage.db"), "id-19").count, 1);
  Status late = (*ledger)->append(test_record("late"), cb.make());
  EXPECT_EQ(late.code(), StatusCode::kUnavailable);
  EXPECT_NE(late.message().find("closed"), std::string::npos) << late.message();
  (*ledger)->close();  // idempotent
  EXPECT_TRUE((*ledger)->flush().is_ok());
}

TEST_F(LedgerTest, DestructorCommitsWhatIsPending) {
  Callbacks cb;
  {
    LedgerOptions options;
    options.max_batch_delay_ms = 1000;
    auto ledger = Ledger::open(file("usage.db"), options);
    ASSERT_TRUE(ledger.is_ok());
    ASSERT_TRUE((*ledger)->append(test_record("id-1"), cb.make()));
  }
  EXPECT_EQ(cb.ok, 1);
  EXPECT_FALSE(std::filesystem::exists(file("usage.db-wal")));  // checkpointed on close
  EXPECT_EQ(stored_rows(file("usage.db"), "id-1").count, 1);
}

TEST_F(LedgerTest, RecordsTheSchemaCannotHoldAreRefusedAtAppend) {
  auto ledger = Ledger::open(file("usage.db"));
  ASSERT_TRUE(ledger.is_ok());
  Callbacks cb;
  Status no_id = (*ledger)->append(test_record(""), cb.make());
  EXPECT_EQ(no_id.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_id.message().find("request_id"), std::string::npos);
  UsageRecord nan = test_record("chatcmpl-nan");
  nan.facility_wh = std::nan("");
  Status bad = (*ledger)->append(nan, cb.make());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("facility_wh is not a finite number"), std::string::npos) << bad.message();
  UsageRecord inf = test_record("chatcmpl-inf");
  inf.usd = INFINITY;
  EXPECT_FALSE((*ledger)->append(inf, cb.make()).is_ok());
  // The refused records never joined a batch: the next one commits.
  ASSERT_TRUE((*ledger)->append(test_record("chatcmpl-ok"), cb.make()));
  EXPECT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(cb.ok, 1);
  EXPECT_EQ(cb.failed, 0);
}

TEST_F(LedgerTest, AppendsBeyondThePendingLimitAreRefusedWhileTheWriterIsStuck) {
  LedgerOptions options;
  options.max_batch_records = 1;
  options.max_pending_records = 4;
  auto ledger = Ledger::open(file("usage.db"), options);
  ASSERT_TRUE(ledger.is_ok());
  WriterHold hold(**ledger);
  Callbacks cb;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*ledger)->append(test_record("id-" + std::to_string(i)), cb.make()));
  Status full = (*ledger)->append(test_record("one-too-many"), cb.make());
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("cannot keep up"), std::string::npos) << full.message();
  hold.release();
  EXPECT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(cb.ok, 4);
}

TEST_F(LedgerTest, ABatchLockedOutByAnotherProcessFailsWithAReasonAndTheNextOneCommits) {
  LedgerOptions options;
  options.busy_timeout_ms = 50;
  auto ledger = Ledger::open(file("usage.db"), options);
  ASSERT_TRUE(ledger.is_ok());
  auto other = SqliteDb::open(file("usage.db"), SQLITE_OPEN_READWRITE, 0);
  ASSERT_TRUE(other.is_ok());
  ASSERT_TRUE(other->exec("BEGIN IMMEDIATE", "locking").is_ok());
  Callbacks cb;
  ASSERT_TRUE((*ledger)->append(test_record("blocked"), cb.make()));
  Status flushed = (*ledger)->flush();
  EXPECT_EQ(flushed.code(), StatusCode::kUnavailable);
  EXPECT_NE(flushed.message().find("another process holds the ledger's lock"), std::string::npos)
      << flushed.message();
  EXPECT_EQ(cb.failed, 1);
  ASSERT_TRUE(other->exec("COMMIT", "unlocking").is_ok());
  ASSERT_TRUE((*ledger)->append(test_record("blocked"), cb.make()));  // the retry
  EXPECT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(cb.ok, 1);
  EXPECT_EQ((*ledger)->stats().failed, 1u);
}

TEST_F(LedgerTest, ReopeningKeepsEveryRowAndAppendsMore) {
  {
    auto ledger = Ledger::open(file("usage.db"));
    ASSERT_TRUE(ledger.is_ok());
    ASSERT_TRUE((*ledger)->append(test_record("a"), nullptr));
  }
  LedgerOptions full;
  full.synchronous = LedgerOptions::Synchronous::kFull;
  auto ledger = Ledger::open(file("usage.db"), full);
  ASSERT_TRUE(ledger.is_ok()) << ledger.status().to_string();
  ASSERT_TRUE((*ledger)->append(test_record("b"), nullptr));
  ASSERT_TRUE((*ledger)->flush().is_ok());
  EXPECT_EQ(stored_rows(file("usage.db"), "a").count, 1);
  EXPECT_EQ(stored_rows(file("usage.db"), "b").count, 1);
}

TEST_F(LedgerTest, OptionsOutOfRangeAreRefused) {
  LedgerOptions o;
  o.max_batch_records = 0;
  EXPECT_NE(Ledger::open(file("a.db"), o).status().message().find("max_batch_records"), std::string::npos);
  o = {};
  o.max_batch_delay_ms = -1;
  EXPECT_NE(Ledger::open(file("a.db"), o).status().message().find("max_batch_delay_ms"), std::string::npos);
  o = {};
  o.max_pending_records = 10;
  EXPECT_NE(Ledger::open(file("a.db"), o).status().message().find("max_pending_records"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(file("a.db")));
}

// Reads newline-separated ids from `fd` until `want` arrived (0: until end of file), waiting at
// most `timeout_ms` for each read.
void read_ids(int fd, std::string& partial, std::set<std::string>& ids, size_t want, int timeout_ms) {
  char buf[4096];
  while (want == 0 || ids.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    partial.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1))
      ids.insert(partial.substr(0, nl));
  }
}

// The child: appends from 4 threads as fast as it can (256 in flight each) and writes each id
// to `fd` once its callback said committed, until it is killed.
[[noreturn]] void append_until_killed(const std::string& path, int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto ledger = Ledger::open(path);
  if (!ledger) _exit(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::counting_semaphore<256> in_flight(256);
      for (int i = 0;; ++i) {
        in_flight.acquire();
        const std::string id = "chatcmpl-" + std::to_string(t) + "-" + std::to_string(i);
        Status s = (*ledger)->append(test_record(id, i % 7), [&in_flight, fd, line = id + "\n"](Status st) {
          if (st.is_ok() && write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
          in_flight.release();
        });
        if (!s.is_ok()) _exit(4);
      }
    });
  }
  for (;;) pause();
}

TEST_F(LedgerTest, KillNineWhileAppendingLosesNoCommittedRecordAndDuplicatesNone) {
  const std::string path = file("usage.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    append_until_killed(path, fds[1]);
  }
  close(fds[1]);
  std::set<std::string> committed;
  std::string partial;
  read_ids(fds[0], partial, committed, 20000, 30000);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  read_ids(fds[0], partial, committed, 0, 1000);  // what it reported before it died
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "child exited with " << wstatus;
  ASSERT_GE(committed.size(), 20000u);
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u) << "the killed writer should leave a write-ahead log";

  // A reader recovers the log first, read-only; then the writer reopens it.
  auto before = totals({path}, GroupBy::kNone, {});
  ASSERT_TRUE(before.is_ok()) << before.status().to_string();
  EXPECT_GE(before->at(0).requests, static_cast<int64_t>(committed.size()));
  auto ledger = Ledger::open(path);
  ASSERT_TRUE(ledger.is_ok()) << ledger.status().to_string();
  // Retrying commits already made adds nothing.
  int retried = 0;
  for (auto it = committed.begin(); it != committed.end() && retried < 100; ++it, ++retried)
    ASSERT_TRUE((*ledger)->append(test_record(*it, 99), nullptr));
  ASSERT_TRUE((*ledger)->flush().is_ok());
  (*ledger)->close();

  auto db = SqliteDb::open(path, SQLITE_OPEN_READONLY, 1000);
  ASSERT_TRUE(db.is_ok());
  auto count = SqliteStatement::prepare(*db, "SELECT COUNT(*) FROM usage WHERE request_id = ?");
  ASSERT_TRUE(count.is_ok());
  for (const std::string& id : committed) {
    count->bind(1, std::string_view(id));
    ASSERT_TRUE(*count->step("counting"));
    ASSERT_EQ(count->column_int(0), 1) << id;
    count->reset();
  }
  auto after = totals({path}, GroupBy::kNone, {});
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(after->at(0).requests, before->at(0).requests);
}

}  // namespace
}  // namespace tokengrid::gateway
