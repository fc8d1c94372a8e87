// BatchRunner: runs the batch API's batches on the live grid, in the cheapest and greenest
// hours and places of their window, with the room interactive traffic leaves.
//
// One thread. For each batch not yet final (read from the BatchStore at start, so a restarted
// gateway resumes every batch where it was):
//   - validating: reads its input file (batch_input.h); failed with per-line errors, or
//     in_progress with its requests.
//   - in_progress: at the start of every grid-clock hour (and on resuming) plans what is left
//     over the rest of the window (batch_plan.h: each hour's price, carbon and PUE at every
//     site, the balanced objective with the grid's carbon price, each site's room for batch
//     work at the speed the gateway observes there), leaving the window's last hour spare; then
//     starts this hour's planned requests at this hour's planned sites.
//   - a request is admitted like an interactive one (RequestFront: the key's limits and budgets,
//     the power caps, demand response), ranked by the balanced policy with the time left in its
//     window, relayed by the same relay, metered into the same ledger with the batch's id.
//   - interactive work comes first: a site takes batch requests only while its batch requests
//     stay below `share` of its concurrency less its interactive load, and with `preempt` the
//     newest batch requests at a site are cancelled (and run again later) when interactive load
//     takes their room. At most `max_in_flight` batch requests run at once over the grid.
//   - a result is recorded (batch_store.h) before the request counts as done; a request whose
//     run was lost (cancelled, a restart) runs again, and its custom_id still appears once.
//     A 5xx is retried twice more; a limit's refusal (429) pauses the batch until the window
//     frees up; any other refusal is the request's line in the error file.
//   - finishing: finalizing, then completed with its output and error files. cancelling: no
//     new requests, those in flight finish, the rest become batch_cancelled lines, then
//     cancelled. When the window ends first: expired, requests in flight abandoned, the rest
//     batch_expired lines, the output file keeping what finished.
// Thread-safe: wake() and status_json() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/batch_plan.h"
#include "gateway/batch_store.h"
#include "gateway/gateway_config.h"
#include "gateway/inprocess_exchange.h"
#include "gateway/request_front.h"

namespace tokengrid::gateway {

struct BatchRunnerContext {
  BatchStore* store = nullptr;
  LiveGrid* grid = nullptr;
  RequestFront* front = nullptr;        // admits on behalf of a batch's key with the batch policy
  const RelayContext* relay = nullptr;  // what batch requests are relayed with
  const KeyStore* keys = nullptr;
  const grid::Clock* signal_clock = nullptr;
  double clock_speed = 1;  // grid-clock seconds per wall second
  grid::PolicyParams params;
  BatchOptions options;
  std::string default_region;       // a batch's region when its key names none
  std::vector<std::string> models;  // those the grid serves
  bool persist_clock = false;       // keep the replay clock's position in the store
};

// Where a replay clock starts: where it stood when the gateway last stopped, if batches were
// still running on the same replay (start and speed), so that their windows keep their hours;
// `start` otherwise. Records this replay for the next start.
double resumed_replay_start(BatchStore& store, double start_unix_s, double speed);

class BatchRunner {
 public:
  explicit BatchRunner(BatchRunnerContext context);
  ~BatchRunner();

  // Loads the batches to resume and starts the thread; again after a stop(), from the store.
  Status start();
  // Abandons the requests in flight (they stay pending in the store) and joins the thread.
  void stop();
  // A batch was created or moved (cancel): the thread looks at it now.
  void wake(const std::string& batch_id);
  // The batches being run, their plans and the batch requests in flight per site.
  nlohmann::json status_json() const;

  // A batch being run.
  struct Active {
    BatchRecord record;
    const KeyEntry* key = nullptr;
    std::deque<PendingRequest> queue;  // read from the store, not yet started
    int cursor = 0;                    // the last line read
    bool drained = false;              // every pending line has been read
    std::map<int, int> failures;       // 5xx answers per line
    int in_flight = 0;
    // This hour of the plan.
    double hour_end = 0;
    int64_t quota = 0, started = 0;
    std::vector<int> sites;  // where the plan runs this hour
    bool anywhere = false;   // over capacity: wherever there is room
    double resume_at = 0;    // after a limit's refusal, grid clock
  };
  struct InFlight {
    std::weak_ptr<InProcessExchange> exchange;
    PendingRequest request;
    int site = -1;
    uint64_t order = 0;
    bool cancelled = false;
  };

 private:
  struct Sink;
  struct Outcome;

  void loop();
  void tick();
  void take_wakes();
  void track(BatchRecord record);
  Active* find(const std::string& id);
  void take_outcomes();
  void settle(Active& a, const PendingRequest& request, const InProcessAnswer& answer);
  void record(Active& a, const PendingRequest& request, int status, const std::string& request_id, const std::string& body);
  void step(Active& a, double now);
  void validate(Active& a, double now);
  void run(Active& a, double now);
  void replan(Active& a, double now);
  std::vector<PlanSlot> forecast(const Active& a, const std::vector<std::pair<double, double>>& windows, double prompt_tokens,
                                 double output_tokens) const;
  bool launch(Active& a, double now, std::vector<double>& rooms);
  bool fetch(Active& a);
  void finish_if_done(Active& a, double now);
  void close(Active& a, double now, const std::string& code, const std::string& message, const std::string& status);
  void refresh(Active& a);
  // Batch requests each site may still take now: share of its concurrency, less its
  // interactive load and the batch requests it runs.
  std::vector<double> rooms(double now) const;
  std::vector<int> active_at(int site) const;
  void preempt(double now);
  void housekeeping(double now);
  void snapshot(double now);

  const BatchRunnerContext ctx_;
  std::vector<std::string> site_names_;
  std::shared_ptr<Sink> sink_;
  std::vector<std::unique_ptr<Active>> active_;  // oldest first; the thread's own
  std::map<std::pair<std::string, int>, InFlight> in_flight_;
  uint64_t launches_ = 0;
  double last_clock_write_ = 0, last_purge_ = 0, last_snapshot_ = 0;

  mutable std::mutex snapshot_mutex_;
  nlohmann::json snapshot_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tokengrid::gateway
