#pragma once
// Progress reporting: a redrawn bar on a terminal, periodic plain lines
// otherwise (logs and CI), on stderr so stdout stays parseable.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace oneshot {

class Progress {
 public:
  Progress(std::string label, std::size_t total, bool enabled = true);
  ~Progress();
  // Adds `n` finished items; `extra` is shown after the counts (e.g. "loss 0.41").
  void advance(std::size_t n = 1, const std::string& extra = {});
  void finish(const std::string& extra = {});
  double seconds() const;

 private:
  void draw(const std::string& extra, bool final);
  std::string label_;
  std::size_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace oneshot
