#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/clock.h"

namespace oneshot {

Progress::Progress(std::string label, std::size_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && enabled_ && tty_ && done_ > 0) std::fputc('\n', stderr);
}

double Progress::seconds() const {
  return seconds_since(start_);
}

void Progress::advance(std::size_t n, const std::string& extra) {
  std::lock_guard lock(mutex_);
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  // A terminal is redrawn ~10 times a second; a log gets a line every 10 s.
  const auto period = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(10000);
  if (now - last_draw_ >= period || done_ == total_) {
    last_draw_ = now;
    draw(extra, false);
  }
}

void Progress::finish(const std::string& extra) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw(extra, true);
}

void Progress::draw(const std::string& extra, bool final) {
  if (!enabled_) return;
  const double secs = seconds();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  if (tty_) {
    constexpr int width = 30;
    const int filled = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %zu/%zu %.1f/s %s\033[K", label_.c_str(), bar.c_str(), done_, total_, rate,
                 extra.c_str());
    if (final) std::fputc('\n', stderr);
  } else if (final || done_ < total_) {
    std::fprintf(stderr, "%s: %zu/%zu (%.1f/s) %s\n", label_.c_str(), done_, total_, rate, extra.c_str());
  }
  std::fflush(stderr);
}

}  // namespace oneshot
