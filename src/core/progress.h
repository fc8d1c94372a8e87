// Progress: the one progress bar of every long tokengrid job (simulations, benchmarks, model
// synthesis and quantization, load generation, `tokengrid up` starting its sites):
//
//   sim balanced  [##############                ]  47%  350/744  12 s left
//   batch batch_7f3a [######                        ]  20%  2/10  8 s left  in_progress
//
// A job whose size is learnt as it goes (a batch the gateway is still validating) changes its
// total and a short note after the figures with each update.
// drawn in place on stderr, and only when stderr is a terminal, so logs, pipes and tests stay
// clean. Redrawn at most ten times a second; the line is cleared when the job ends (the object
// is destroyed), so the job's own result line follows on a clean line. Thread-safe: workers of
// one job may each call advance().
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tokengrid {

class Progress {
 public:
  // `enabled` false draws nothing (a --quiet flag); true draws only on a terminal.
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(int64_t done);
  void update(int64_t done, int64_t total, std::string note);
  void advance(int64_t steps = 1);
  bool drawing() const { return enabled_; }

  // The line as drawn for `done` of `total` after `elapsed_s` seconds (for tests).
  static std::string render(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                            const std::string& note = "");

 private:
  void draw_locked(bool force);

  const std::string label_;
  int64_t total_;
  std::string note_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

}  // namespace tokengrid
