#pragma once
// Doubles that come from files or options, converted to integers checked:
// converting a double outside the target type's range (1e300, inf, nan) is
// undefined behaviour, and llround of one is unspecified.
#include <cmath>
#include <cstdint>
#include <optional>

namespace oneshot {

// V as an int64 when it is whole and |V| < 9e15 (below 2^53, so every such
// double is an exact integer); nothing otherwise.
inline std::optional<std::int64_t> whole_int64(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return static_cast<std::int64_t>(v);
  return std::nullopt;
}

// SECONDS * RATE rounded, as a sample index, saturating: 0 when negative or
// NaN, UINT64_MAX from 1.8e19 (past any file) up.
inline std::uint64_t sample_index(double seconds, double rate) {
  const double x = std::round(seconds * rate);
  if (!(x > 0)) return 0;
  return x >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(x);
}

}  // namespace oneshot
