#include "core/number_cast.h"

#include <gtest/gtest.h>

#include <limits>

namespace oneshot {
namespace {

TEST(NumberCast, WholeInt64TakesOnlyWholeValuesBelow9e15) {
  EXPECT_EQ(whole_int64(12.0), 12);
  EXPECT_EQ(whole_int64(-3.0), -3);
  EXPECT_EQ(whole_int64(8.9e15), std::int64_t{8900000000000000});
  for (double v : {2.5, 9e15, -1e300, 1e300, std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()})
    EXPECT_FALSE(whole_int64(v).has_value()) << v;
}

TEST(NumberCast, SampleIndexRoundsAndSaturates) {
  EXPECT_EQ(sample_index(1.5, 22050), 33075u);
  EXPECT_EQ(sample_index(0.00002, 22050), 0u);  // 0.441 samples
  EXPECT_EQ(sample_index(-2, 22050), 0u);
  EXPECT_EQ(sample_index(std::numeric_limits<double>::quiet_NaN(), 22050), 0u);
  EXPECT_EQ(sample_index(1e300, 22050), UINT64_MAX);
  EXPECT_EQ(sample_index(std::numeric_limits<double>::infinity(), 22050), UINT64_MAX);
}

}  // namespace
}  // namespace oneshot
