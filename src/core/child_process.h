// ChildProcess: a program this process starts and must not outlive it.
//
// The child gets SIGKILL when its parent dies, however the parent dies (Linux's
// PR_SET_PDEATHSIG, checked against the race with a parent that died during the fork), so a
// `kill -9` of the parent leaves no child behind. Its standard output and error go to a log
// file. terminate() asks it to stop (SIGTERM) and kills it after a grace period.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace tokengrid {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with its arguments; output appended to `log_path`.
  static Result<std::unique_ptr<ChildProcess>> spawn(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();  // terminate()s

  pid_t pid() const { return pid_; }
  // Whether it still runs (reaps it when it has exited).
  bool running();
  // The exit status once it ended: the code, or 128 + the signal.
  int exit_code() const { return exit_code_; }
  // SIGTERM, then SIGKILL after `grace`; waits for it.
  void terminate(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Sends SIGTERM without waiting.
  void request_stop();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool exited_ = false;
  int exit_code_ = -1;
};

// The path of this process's own executable (to start `tokengrid serve` as a child).
std::string self_executable();

// The first executable `name` in the directories of $PATH (/usr/bin:/bin when unset), else
// `fallback` when that is executable (a daemon in /usr/sbin, off a user's PATH), else "".
std::string find_executable(const std::string& name, const std::string& fallback = "");

}  // namespace tokengrid
