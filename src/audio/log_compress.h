#pragma once
// Log compression of a (mel) power spectrogram, in place.
#include <cstddef>

namespace oneshot {

// ln(max(x, floor)), floor > 0: the default log-mel.
void log_with_floor(float* values, std::size_t n, float floor);

// The original project's quirk: ln(x * scale) where x != 0, zeros stay 0.
// With scale = 32768^2 a power spectrogram of [-1, 1) samples becomes that of
// int16-scale samples, as the original computed it.
void log_nonzero(float* values, std::size_t n, float scale);

// Natural log of a positive finite float, accurate to about 2 ulp; written
// branch-free so the loops above vectorise.
float fast_log(float x);

}  // namespace oneshot
