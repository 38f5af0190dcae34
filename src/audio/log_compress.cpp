#include "audio/log_compress.h"

#include <cstdint>
#include <cstring>

#include "audio/simd.h"

namespace oneshot {

namespace {

inline std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

inline float float_of(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Cephes' logf: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then a degree-9
// polynomial for log(1 + f), and e * ln 2 added in two parts for accuracy.
// Every choice is an integer select (no float comparison, which GCC will not
// if-convert under the default -ftrapping-math), so loops over it vectorise.
inline float log_positive(float x) {
  // Subnormals: scale by 2^25 into the normal range first (a bit mask picks
  // the scaled value; GCC would turn a ?: on floats into a branch).
  const bool tiny = bits_of(x) < 0x00800000u;
  const std::uint32_t tiny_mask = 0u - static_cast<std::uint32_t>(tiny);
  const std::uint32_t u = (bits_of(x * 33554432.0f) & tiny_mask) | (bits_of(x) & ~tiny_mask);
  const std::uint32_t mantissa = u & 0x007fffffu;
  // m in [0.5, 1) has the bits 0x3f000000 | mantissa; below sqrt(1/2) use 2m instead.
  const bool low = mantissa < 0x003504f3u;
  const int exponent = static_cast<int>(u >> 23) - 126 - (tiny ? 25 : 0) - (low ? 1 : 0);
  const float f = float_of(mantissa | (low ? 0x3f800000u : 0x3f000000u)) - 1.0f;
  const float e = static_cast<float>(exponent);
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return f + y + 0.693359375f * e;
}

// Bits of a float as a signed integer: ordered like the floats for x >= 0,
// negative for negative floats.
inline std::int32_t ordered_bits(float x) { return static_cast<std::int32_t>(bits_of(x)); }

}  // namespace

float fast_log(float x) { return log_positive(x); }

ONESHOT_SIMD_CLONES
void log_with_floor(float* values, std::size_t n, float floor) {
  const std::int32_t floor_bits = ordered_bits(floor);
  for (std::size_t i = 0; i < n; ++i) {
    const float v = values[i];
    values[i] = log_positive(ordered_bits(v) > floor_bits ? v : floor);
  }
}

ONESHOT_SIMD_CLONES
void log_nonzero(float* values, std::size_t n, float scale) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = values[i];
    // Masks, not ?: on floats, which GCC would turn into a branch.
    const std::uint32_t keep = 0u - static_cast<std::uint32_t>((bits_of(v) & 0x7fffffffu) != 0);  // not +-0
    const float l = log_positive(float_of((bits_of(v * scale) & keep) | (bits_of(1.0f) & ~keep)));
    values[i] = float_of(bits_of(l) & keep);
  }
}

}  // namespace oneshot
