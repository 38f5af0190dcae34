#include "inference/window_stream.h"

#include <algorithm>

#include "core/error.h"

namespace oneshot {

WindowStream::WindowStream(std::size_t window, std::size_t hop) : window_(window), hop_(hop) {
  if (window == 0 || hop == 0) throw Error("window and hop must be at least one sample");
}

void WindowStream::push(const float* samples, std::size_t n) {
  // Keep only what later windows need (the samples from the next start on).
  const std::size_t keep_from = std::min(next_start_, total_);
  if (keep_from > buffer_start_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(keep_from - buffer_start_));
    buffer_start_ = keep_from;
  }
  buffer_.insert(buffer_.end(), samples, samples + n);
  total_ += n;
}

std::optional<std::size_t> WindowStream::pop(std::vector<float>& packed) {
  if (finished_ || next_start_ + window_ > total_) return std::nullopt;
  const std::size_t start = next_start_;
  packed.insert(packed.end(), buffer_.begin() + static_cast<std::ptrdiff_t>(start - buffer_start_),
                buffer_.begin() + static_cast<std::ptrdiff_t>(start - buffer_start_ + window_));
  last_end_ = start + window_;
  any_ = true;
  next_start_ += hop_;
  return start;
}

std::size_t WindowStream::complete() const {
  if (finished_ || next_start_ + window_ > total_) return 0;
  return (total_ - next_start_ - window_) / hop_ + 1;
}

void WindowStream::skip(std::size_t n) {
  if (n == 0) return;
  if (n > complete()) throw Error("internal: WindowStream::skip past the complete windows");
  next_start_ += n * hop_;
  last_end_ = next_start_ - hop_ + window_;
  any_ = true;
}

std::optional<std::size_t> WindowStream::pop_last(std::vector<float>& packed) {
  if (finished_) return std::nullopt;
  finished_ = true;
  // Nothing left after the last complete window, or (a hop longer than the window) the next start is past the end.
  if (any_ && (last_end_ >= total_ || next_start_ >= total_)) return std::nullopt;
  const std::size_t offset = next_start_ - buffer_start_;
  const std::size_t have = std::min(window_, buffer_.size() - std::min(buffer_.size(), offset));
  const std::size_t at = packed.size();
  packed.resize(at + window_, 0.0f);
  if (have) std::copy_n(buffer_.data() + offset, have, packed.data() + at);
  return next_start_;
}

}  // namespace oneshot
