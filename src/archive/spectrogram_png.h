#pragma once
// A log-mel spectrogram as a PNG image (the review page's picture of a hit):
// one column a frame (columns max-pooled when there are more frames than
// `max_width`), each mel band `row_height` pixels, low frequencies at the
// bottom, coloured with a perceptually ordered black-purple-orange-yellow map
// (the anchors of matplotlib's "magma") over the top 80 dB of the image
// (values are natural-log power, as audio/logmel.h gives them: 80 dB is
// ln(1e8)). Marked columns (the hit's start and end inside its context) are
// drawn as thin white lines. Encoded with zlib (PNG: RFC 2083, 8-bit RGB).
#include <cstddef>
#include <string>
#include <vector>

namespace oneshot::archive {

struct SpectrogramImage {
  std::size_t max_width = 900;   // pixels
  std::size_t row_height = 2;    // pixels a mel band
  std::vector<double> marks;     // fractions of the width in [0, 1] drawn as lines
};

// The PNG bytes of `log_mel` (n_mels x n_frames, row-major, band 0 the lowest).
// Error for an empty image or a non-finite value other than -inf (silence).
std::string spectrogram_png(const float* log_mel, std::size_t n_mels, std::size_t n_frames,
                            const SpectrogramImage& style = {});

}  // namespace oneshot::archive
