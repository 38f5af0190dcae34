#pragma once
// A stream of samples cut into windows of `window` samples every `hop`, as
// they arrive: memory holds one window and one block, never the recording.
// The windows are enroll/windows.h's plan (starts 0, hop, 2*hop, ... until a
// window reaches the end; the last one zero-padded), so a file read in blocks
// gives the windows plan_windows gives for the whole of it.
#include <cstddef>
#include <optional>
#include <vector>

namespace oneshot {

class WindowStream {
 public:
  // Error when window or hop is 0.
  WindowStream(std::size_t window, std::size_t hop);

  void push(const float* samples, std::size_t n);
  // The next complete window: its samples appended to `packed`, its start
  // (samples from the beginning of the stream) returned; nullopt until more arrive.
  std::optional<std::size_t> pop(std::vector<float>& packed);
  // After the last push: the last window, zero-padded, when the samples after
  // the last complete window (or a stream shorter than one window, or an empty
  // one) would otherwise be in no window; nullopt otherwise, and at any later call.
  std::optional<std::size_t> pop_last(std::vector<float>& packed);

  // The complete windows from the next start on, read in place (for a block
  // of windows embedded together, inference/shared_windows.h): how many the
  // samples pushed hold, the next start, a pointer to the samples from it on
  // (valid until the next push), and skip(n), which passes n of them as pop()
  // would, without copying them.
  std::size_t complete() const;
  std::size_t next_start() const { return next_start_; }
  const float* next_samples() const { return buffer_.data() + (next_start_ - buffer_start_); }
  void skip(std::size_t n);

  std::size_t window() const { return window_; }
  std::size_t hop() const { return hop_; }
  std::size_t total() const { return total_; }  // samples pushed

 private:
  std::size_t window_, hop_;
  std::vector<float> buffer_;     // samples from buffer_start_ on
  std::size_t buffer_start_ = 0;  // stream index of buffer_[0]
  std::size_t next_start_ = 0;    // start of the next window
  std::size_t total_ = 0;
  std::size_t last_end_ = 0;      // end of the last complete window
  bool any_ = false, finished_ = false;
};

}  // namespace oneshot
