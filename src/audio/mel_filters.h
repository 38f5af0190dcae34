#pragma once
// The mel filter bank exactly as librosa.filters.mel builds it (Slaney or
// HTK scale, Slaney area normalisation), in float32 as librosa returns it.
#include <vector>

namespace oneshot {

struct MelBasisParams {
  int sample_rate = 44100;
  int n_fft = 2048;
  int n_mels = 128;
  double fmin = 0.0;
  double fmax = 0.0;  // 0 = sample_rate / 2
  bool htk = false;
};

// The mel scale: Slaney's (linear below 1 kHz, logarithmic above) or HTK's.
double hz_to_mel(double hz, bool htk);
double mel_to_hz(double mel, bool htk);
// n frequencies evenly spaced on the mel scale from fmin to fmax (librosa.mel_frequencies).
std::vector<double> mel_frequencies(int n, double fmin, double fmax, bool htk);
// Centre frequency of each of the n_fft / 2 + 1 FFT bins.
std::vector<double> fft_frequencies(int sample_rate, int n_fft);

// Row-major n_mels x (n_fft / 2 + 1).
std::vector<float> mel_basis(const MelBasisParams& params);

// The same matrix stored sparsely: each filter's contiguous non-zero bins.
struct SparseMelBasis {
  int n_mels = 0, n_bins = 0;
  std::vector<int> first_bin;          // per filter
  std::vector<int> n_nonzero;          // per filter
  std::vector<std::size_t> offset;     // per filter, into weights
  std::vector<float> weights;
  static SparseMelBasis from_dense(const std::vector<float>& dense, int n_mels, int n_bins);
};

}  // namespace oneshot
