#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace tokengrid {
namespace {

constexpr int kWidth = 30;
constexpr auto kRedraw = std::chrono::milliseconds(100);

std::string duration_text(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  else std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(std::max<int64_t>(1, total)),
      enabled_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (drawn_) std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

std::string Progress::render(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                             const std::string& note) {
  total = std::max<int64_t>(1, total);
  done = std::clamp<int64_t>(done, 0, total);
  const int percent = static_cast<int>(100 * done / total);
  const int filled = static_cast<int>(kWidth * done / total);
  std::string line = label + " [" + std::string(filled, '#') + std::string(kWidth - filled, ' ') + "] ";
  char figures[96];
  std::snprintf(figures, sizeof figures, "%3d%%  %lld/%lld", percent, static_cast<long long>(done),
                static_cast<long long>(total));
  line += figures;
  if (done > 0 && done < total && elapsed_s >= 1)
    line += "  " + duration_text(elapsed_s * static_cast<double>(total - done) / static_cast<double>(done)) + " left";
  if (!note.empty()) line += "  " + note;
  return line;
}

void Progress::update(int64_t done) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = done;
  draw_locked(done >= total_);
}

void Progress::update(int64_t done, int64_t total, std::string note) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const bool changed = total != total_ || note != note_;
  done_ = done;
  total_ = std::max<int64_t>(1, total);
  note_ = std::move(note);
  draw_locked(changed || done >= total_);
}

void Progress::advance(int64_t steps) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += steps;
  draw_locked(done_ >= total_);
}

void Progress::draw_locked(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s", render(label_, done_, total_, elapsed, note_).c_str());
  std::fflush(stderr);
}

}  // namespace tokengrid
