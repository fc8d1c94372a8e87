// Clocks for the drivers of the grid (the gateway, the simulator, demos). Policies never read a
// clock: a driver reads one and passes times in.
//
// Times are seconds since the Unix epoch, UTC, as double (sub-second resolution, exact integers
// for whole seconds far beyond 2100).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace tokengrid::grid {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_unix_s() const = 0;
};

// The operating system's real-time clock.
class SystemClock final : public Clock {
 public:
  double now_unix_s() const override;
};

// A clock a driver sets by hand (the simulator's event time, a test's scripted time).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(double start_unix_s = 0) : now_(start_unix_s) {}
  double now_unix_s() const override { return now_; }
  void set(double unix_s) { now_ = unix_s; }
  void advance(double seconds) { now_ += seconds; }

 private:
  double now_;
};

// Maps another clock's time onto signal time: signal = signal_start + speed x (wall - wall_start).
// With speed 3600 one wall second replays one hour of signals (a day in 24 s).
class ReplayClock final : public Clock {
 public:
  // `wall` must outlive this clock. A speed <= 0 is taken as 1 (real time).
  ReplayClock(const Clock& wall, double signal_start_unix_s, double speed);
  double now_unix_s() const override;
  double speed() const { return speed_; }

 private:
  const Clock& wall_;
  double wall_start_;
  double signal_start_;
  double speed_;
};

// Parses an ISO-8601 UTC time: "2024-01-01T00:00Z", "2024-01-01T00:00:00Z", "2024-01-01 00:00",
// "2024-01-01" (midnight). Offsets other than Z are rejected.
Result<double> parse_utc_time(std::string_view text);

// Formats as "YYYY-MM-DDTHH:MMZ" (seconds dropped).
std::string format_utc_hour(double unix_s);

}  // namespace tokengrid::grid
