// float16 storage conversion: exact round trip of every half value, correct
// rounding of floats in between, and the edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "data/half.h"

namespace oneshot {
namespace {

TEST(Half, EveryHalfValueRoundTrips) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    const float f = half_to_float(half);
    const bool nan = (half & 0x7C00) == 0x7C00 && (half & 0x3FF) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f)))) << h;
    } else {
      EXPECT_EQ(float_to_half(f), half) << std::hex << h << " -> " << f;
    }
  }
}

TEST(Half, KnownValues) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(-2.0f), 0xC000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);                         // largest half
  EXPECT_EQ(float_to_half(65519.0f), 0x7BFF);                         // rounds down
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00);                         // rounds to infinity
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);            // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);            // tie to even: 0
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);            // above the tie
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);            // 1.5 units: tie to even 2
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);            // smallest normal
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);     // tie to even (down)
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02); // tie to even (up)
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_FLOAT_EQ(half_to_float(0x3555), 0.333251953125f);
}

// Random floats: the result is the nearest half (ties to even), checked
// against the two neighbouring halves.
TEST(Half, RandomFloatsRoundToNearest) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> exponent(-26.0f, 16.0f);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::exp2(exponent(rng)) * ((rng() & 1) ? -1.0f : 1.0f) * (1.0f + (rng() % 1000) / 1000.0f);
    if (std::fabs(x) >= 65504.0f) continue;
    const std::uint16_t h = float_to_half(x);
    const double got = half_to_float(h);
    const std::uint16_t mag = h & 0x7FFF, sign = h & 0x8000;
    const double below = mag > 0 ? half_to_float(static_cast<std::uint16_t>(sign | (mag - 1))) : got;
    const double above = mag < 0x7BFF ? half_to_float(static_cast<std::uint16_t>(sign | (mag + 1))) : got;
    const double err = std::fabs(got - x);
    ASSERT_LE(err, std::fabs(below - x)) << x;
    ASSERT_LE(err, std::fabs(above - x)) << x;
  }
}

}  // namespace
}  // namespace oneshot
