#include "audio/mel_filters.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace oneshot {

namespace {

// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above.
constexpr double kSlaneyLinearStep = 200.0 / 3.0;  // Hz per mel below 1 kHz
constexpr double kSlaneyLogStartHz = 1000.0;
constexpr double kSlaneyLogStartMel = kSlaneyLogStartHz / kSlaneyLinearStep;
const double kSlaneyLogStep = std::log(6.4) / 27.0;

}  // namespace

double hz_to_mel(double hz, bool htk) {
  if (htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
  if (hz >= kSlaneyLogStartHz) return kSlaneyLogStartMel + std::log(hz / kSlaneyLogStartHz) / kSlaneyLogStep;
  return hz / kSlaneyLinearStep;
}

double mel_to_hz(double mel, bool htk) {
  if (htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  if (mel >= kSlaneyLogStartMel) return kSlaneyLogStartHz * std::exp(kSlaneyLogStep * (mel - kSlaneyLogStartMel));
  return kSlaneyLinearStep * mel;
}

std::vector<double> mel_frequencies(int n, double fmin, double fmax, bool htk) {
  // numpy.linspace: start + i * step, with the last point exactly `stop`.
  const double lo = hz_to_mel(fmin, htk), hi = hz_to_mel(fmax, htk);
  std::vector<double> hz(n);
  const double step = n > 1 ? (hi - lo) / (n - 1) : 0.0;
  for (int i = 0; i < n; ++i) hz[i] = mel_to_hz(i == n - 1 && n > 1 ? hi : lo + i * step, htk);
  return hz;
}

std::vector<double> fft_frequencies(int sample_rate, int n_fft) {
  // numpy.fft.rfftfreq(n_fft, 1 / sr): k * (1 / (n_fft / sr)).
  const double bin_width = 1.0 / (n_fft * (1.0 / sample_rate));
  std::vector<double> hz(n_fft / 2 + 1);
  for (std::size_t k = 0; k < hz.size(); ++k) hz[k] = static_cast<double>(k) * bin_width;
  return hz;
}

std::vector<float> mel_basis(const MelBasisParams& params) {
  if (params.sample_rate <= 0 || params.n_fft < 2 || params.n_mels < 1)
    throw Error("mel basis: sample_rate, n_fft and n_mels must be positive");
  const double fmax = params.fmax > 0 ? params.fmax : params.sample_rate / 2.0;
  const int n_mels = params.n_mels;
  const int n_bins = params.n_fft / 2 + 1;
  const std::vector<double> bin_hz = fft_frequencies(params.sample_rate, params.n_fft);
  const std::vector<double> edge_hz = mel_frequencies(n_mels + 2, params.fmin, fmax, params.htk);

  std::vector<float> weights(static_cast<std::size_t>(n_mels) * n_bins);
  for (int m = 0; m < n_mels; ++m) {
    const double rise = edge_hz[m + 1] - edge_hz[m];
    const double fall = edge_hz[m + 2] - edge_hz[m + 1];
    // Slaney area normalisation: each triangle integrates to the same value.
    const double area_norm = 2.0 / (edge_hz[m + 2] - edge_hz[m]);
    for (int k = 0; k < n_bins; ++k) {
      const double lower = -(edge_hz[m] - bin_hz[k]) / rise;
      const double upper = (edge_hz[m + 2] - bin_hz[k]) / fall;
      // librosa stores the triangle in float32, then scales it in float64.
      const float triangle = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      weights[static_cast<std::size_t>(m) * n_bins + k] = static_cast<float>(triangle * area_norm);
    }
  }
  return weights;
}

SparseMelBasis SparseMelBasis::from_dense(const std::vector<float>& dense, int n_mels, int n_bins) {
  if (dense.size() != static_cast<std::size_t>(n_mels) * n_bins) throw Error("mel basis: size mismatch");
  SparseMelBasis sparse;
  sparse.n_mels = n_mels;
  sparse.n_bins = n_bins;
  for (int m = 0; m < n_mels; ++m) {
    const float* row = &dense[static_cast<std::size_t>(m) * n_bins];
    int first = 0, last = n_bins - 1;
    while (first < n_bins && row[first] == 0.0f) ++first;
    while (last >= first && row[last] == 0.0f) --last;
    const int count = last >= first ? last - first + 1 : 0;
    sparse.first_bin.push_back(count ? first : 0);
    sparse.n_nonzero.push_back(count);
    sparse.offset.push_back(sparse.weights.size());
    sparse.weights.insert(sparse.weights.end(), row + first, row + first + count);
  }
  return sparse;
}

}  // namespace oneshot
