// A progress bar on stderr, drawn only when stderr is a terminal (so logs and tests stay clean).
#pragma once

#include <cstdio>
#include <string>

namespace tokengrid::sim {

class Progress {
 public:
  Progress(std::string label, long total, bool enabled);
  ~Progress();
  void update(long done);

 private:
  std::string label_;
  long total_;
  bool enabled_;
  int last_percent_ = -1;
};

}  // namespace tokengrid::sim
