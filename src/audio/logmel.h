#pragma once
// Log-mel spectrogram, librosa-compatible: periodic Hann window, centred
// frames (reflect or constant padding), |STFT|^power projected onto the mel
// basis, then the configured log compression.
#include <cstddef>
#include <memory>

#include "core/config.h"

namespace oneshot {

class LogMelExtractor {
 public:
  // `sample_rate` is the rate of the samples given to compute(); fmax = 0 in
  // the config means sample_rate / 2. Thread-safe: one extractor serves all threads.
  LogMelExtractor(const FeaturesConfig& config, int sample_rate);
  ~LogMelExtractor();
  LogMelExtractor(const LogMelExtractor&) = delete;
  LogMelExtractor& operator=(const LogMelExtractor&) = delete;

  int n_mels() const;
  // 1 + n_samples / hop_length (centred frames), as librosa.
  std::size_t n_frames(std::size_t n_samples) const;
  // Mel power spectrogram, row-major n_mels x n_frames (what librosa's
  // melspectrogram returns).
  void power(const float* samples, std::size_t n_samples, float* out) const;
  // power() followed by the configured log compression.
  void log_mel(const float* samples, std::size_t n_samples, float* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oneshot
