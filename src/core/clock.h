#pragma once
// Wall-clock durations for the timings that results and progress report.
#include <chrono>

namespace oneshot {

using SteadyClock = std::chrono::steady_clock;

// Seconds elapsed since `start`.
inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace oneshot
