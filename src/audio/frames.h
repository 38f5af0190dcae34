#pragma once
// Centred STFT framing as librosa does it (center=True): the signal is padded
// by n_fft / 2 on each side ("reflect" or "constant" zeros) and frame t starts
// at t * hop in the padded signal. Frames are windowed straight out of the
// unpadded samples; only frames that overlap an edge look at the padding.
#include <cstddef>
#include <string_view>
#include <vector>

namespace oneshot {

enum class PadMode { reflect, constant };

PadMode parse_pad_mode(const std::string_view& name);

class CentredFrames {
 public:
  CentredFrames(int n_fft, int hop, PadMode pad);

  // 1 + (n + 2 * (n_fft / 2) - n_fft) / hop, as librosa.
  std::size_t count(std::size_t n_samples) const;
  // Writes frame t of `samples` times `window` (n_fft values) into `out`.
  // Returns false when the windowed frame is all zeros (its spectrum is
  // exactly zero, so the caller can skip the transform).
  bool windowed(const float* samples, std::size_t n_samples, std::size_t t, const float* window, float* out) const;

 private:
  // Sample at `index` of the padded signal, index relative to samples[0].
  float padded_sample(const float* samples, std::size_t n_samples, long long index) const;

  int n_fft_, hop_, pad_;
  PadMode mode_;
};

// The periodic Hann window (scipy.signal.get_window("hann", n, fftbins=True)).
std::vector<float> periodic_hann(int n);

}  // namespace oneshot
