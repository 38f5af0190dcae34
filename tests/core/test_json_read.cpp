#include "core/json_read.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace oneshot {
namespace {

using nlohmann::json;

TEST(JsonRead, IntegersInRangeAreReadAsTheirType) {
  const json j = json::parse(R"({"a": 7, "b": -3, "c": 18446744073709551615, "d": 2147483647})");
  EXPECT_EQ(json_integer_at<int>(j, "a"), 7);
  EXPECT_EQ(json_integer_at<int>(j, "b"), -3);
  EXPECT_EQ(json_integer_at<std::uint64_t>(j, "c"), 18446744073709551615ull);
  EXPECT_EQ(json_integer_at<int>(j, "d"), 2147483647);
}

// nlohmann's get<int>() converts 1e300 unchecked (undefined behaviour that
// UBSan reports); a float, however whole, is refused by type.
TEST(JsonRead, FloatsStringsAndOutOfRangeValuesAreErrorsNamingTheKey) {
  const json j = json::parse(
      R"({"huge": 4.4e101, "whole": 3.0, "text": "3", "big": 2147483648, "neg": -1, "u": 18446744073709551615})");
  EXPECT_EQ(test::error_of([&] { json_integer_at<int>(j, "huge"); }), "huge: expected an integer");
  EXPECT_EQ(test::error_of([&] { json_integer_at<std::int64_t>(j, "whole"); }), "whole: expected an integer");
  EXPECT_EQ(test::error_of([&] { json_integer_at<int>(j, "text"); }), "text: expected an integer");
  EXPECT_EQ(test::error_of([&] { json_integer_at<int>(j, "big"); }), "big: 2147483648 is out of range");
  EXPECT_EQ(test::error_of([&] { json_integer_at<std::size_t>(j, "neg"); }), "neg: -1 is out of range");
  EXPECT_EQ(test::error_of([&] { json_integer_at<std::int64_t>(j, "u"); }),
            "u: 18446744073709551615 is out of range");
  EXPECT_THROW(json_integer_at<int>(j, "absent"), json::out_of_range);
}

}  // namespace
}  // namespace oneshot
