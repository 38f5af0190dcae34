#include "audio/frames.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <string>

#include "audio/simd.h"
#include "core/error.h"

namespace oneshot {

namespace {

// out = in * window, and whether any product is non-zero.
ONESHOT_SIMD_CLONES
bool multiply_window(const float* in, const float* window, float* out, int n) {
  std::uint32_t any = 0;  // OR of the products' bits without sign: 0 iff all are +-0
  for (int i = 0; i < n; ++i) {
    const float v = in[i] * window[i];
    out[i] = v;
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    any |= bits & 0x7fffffffu;
  }
  return any != 0;
}

}  // namespace

PadMode parse_pad_mode(const std::string_view& name) {
  if (name == "reflect") return PadMode::reflect;
  if (name == "constant") return PadMode::constant;
  throw Error("features.pad_mode: expected \"reflect\" or \"constant\", got \"" + std::string(name) + "\"");
}

CentredFrames::CentredFrames(int n_fft, int hop, PadMode pad) : n_fft_(n_fft), hop_(hop), pad_(n_fft / 2), mode_(pad) {
  if (n_fft < 2 || hop < 1) throw Error("STFT framing: n_fft must be >= 2 and hop_length >= 1");
}

std::size_t CentredFrames::count(std::size_t n_samples) const {
  const std::size_t padded = n_samples + 2 * static_cast<std::size_t>(pad_);
  if (padded < static_cast<std::size_t>(n_fft_)) return 0;
  return 1 + (padded - n_fft_) / hop_;
}

float CentredFrames::padded_sample(const float* samples, std::size_t n_samples, long long index) const {
  const auto n = static_cast<long long>(n_samples);
  if (index >= 0 && index < n) return samples[index];
  if (mode_ == PadMode::constant) return 0.0f;
  if (n == 1) return samples[0];
  // numpy's "reflect": the edge sample is not repeated. One reflection is
  // enough unless the padding is longer than the signal.
  const long long once = index < 0 ? -index : 2 * (n - 1) - index;
  if (once >= 0 && once < n) return samples[once];
  // Reflected as often as needed: a reflection with period 2 (n - 1).
  const long long period = 2 * (n - 1);
  long long i = index % period;
  if (i < 0) i += period;
  return samples[i < n ? i : period - i];
}

bool CentredFrames::windowed(const float* samples, std::size_t n_samples, std::size_t t, const float* window,
                             float* out) const {
  const long long start = static_cast<long long>(t) * hop_ - pad_;
  if (start >= 0 && start + n_fft_ <= static_cast<long long>(n_samples))
    return multiply_window(samples + start, window, out, n_fft_);
  for (int i = 0; i < n_fft_; ++i) out[i] = padded_sample(samples, n_samples, start + i);
  return multiply_window(out, window, out, n_fft_);
}

std::vector<float> periodic_hann(int n) {
  std::vector<float> w(n);
  for (int i = 0; i < n; ++i) w[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * i / n));
  return w;
}

}  // namespace oneshot
