#include "sim/progress.h"

#include <unistd.h>

namespace tokengrid::sim {

Progress::Progress(std::string label, long total, bool enabled)
    : label_(std::move(label)), total_(total > 0 ? total : 1), enabled_(enabled && isatty(STDERR_FILENO)) {}

Progress::~Progress() {
  if (enabled_ && last_percent_ >= 0) std::fputs("\r\033[K", stderr);
}

void Progress::update(long done) {
  if (!enabled_) return;
  const int percent = static_cast<int>(100 * done / total_);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%", label_.c_str(), filled, "##############################",
               kWidth - filled, "", percent);
  std::fflush(stderr);
}

}  // namespace tokengrid::sim
