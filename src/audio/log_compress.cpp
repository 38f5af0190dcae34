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
inline float log_positive(float x) {
  // Subnormals: scale into the normal range first.
  const bool tiny = x < 1.17549435e-38f;
  x = tiny ? x * 33554432.0f : x;  // 2^25
  const std::uint32_t u = bits_of(x);
  float e = static_cast<float>(static_cast<int>(u >> 23) - 126) - (tiny ? 25.0f : 0.0f);
  float m = float_of((u & 0x007fffffu) | 0x3f000000u);  // in [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  const float f = low ? m + m - 1.0f : m - 1.0f;
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

}  // namespace

float fast_log(float x) { return log_positive(x); }

ONESHOT_SIMD_CLONES
void log_with_floor(float* values, std::size_t n, float floor) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = values[i];
    values[i] = log_positive(v > floor ? v : floor);
  }
}

ONESHOT_SIMD_CLONES
void log_nonzero(float* values, std::size_t n, float scale) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = values[i];
    const float l = log_positive(v != 0.0f ? v * scale : 1.0f);
    values[i] = v != 0.0f ? l : 0.0f;
  }
}

}  // namespace oneshot
