// WindowStream: a recording pushed in blocks of any size gives the windows
// enroll/windows.h plans for the whole of it, with the same samples.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "enroll/windows.h"
#include "inference/window_stream.h"

namespace oneshot {
namespace {

TEST(WindowStream, BlocksOfAnySizeGiveThePlannedWindows) {
  for (std::size_t n : {0u, 1u, 99u, 100u, 101u, 349u, 350u, 1000u})
    for (std::size_t window : {100u, 37u})
      for (std::size_t hop : {50u, 100u, 13u})
        for (std::size_t block : {1u, 7u, 64u, 5000u}) {
          std::vector<float> samples(n);
          std::iota(samples.begin(), samples.end(), 1.0f);
          const WindowPlan plan = plan_windows(n, window, hop);
          WindowStream stream(window, hop);
          std::vector<float> packed;
          std::vector<std::size_t> starts;
          for (std::size_t at = 0; at < n; at += block) {
            stream.push(samples.data() + at, std::min(block, n - at));
            while (const auto s = stream.pop(packed)) starts.push_back(*s);
          }
          if (const auto s = stream.pop_last(packed)) starts.push_back(*s);
          EXPECT_FALSE(stream.pop_last(packed).has_value()) << "once";
          // Read in place (complete, next_samples, skip): the same windows and samples.
          WindowStream in_place(window, hop);
          std::vector<std::size_t> in_place_starts;
          std::vector<float> in_place_packed;
          for (std::size_t at = 0; at < n; at += block) {
            in_place.push(samples.data() + at, std::min(block, n - at));
            for (std::size_t k = in_place.complete(); k > 0; --k) {
              in_place_starts.push_back(in_place.next_start());
              in_place_packed.insert(in_place_packed.end(), in_place.next_samples(), in_place.next_samples() + window);
              in_place.skip(1);
            }
          }
          if (const auto s = in_place.pop_last(in_place_packed)) in_place_starts.push_back(*s);
          EXPECT_EQ(in_place_starts, starts);
          EXPECT_EQ(in_place_packed, packed);
          const std::string where = "n " + std::to_string(n) + " window " + std::to_string(window) + " hop " +
                                    std::to_string(hop) + " block " + std::to_string(block);
          ASSERT_EQ(starts, plan.starts) << where;
          for (std::size_t w = 1; w < starts.size(); ++w) ASSERT_LT(starts[w], n) << where << ": no window starts past the end";
          ASSERT_EQ(packed.size(), starts.size() * window) << where;
          std::vector<float> expected(window);
          for (std::size_t w = 0; w < starts.size(); ++w) {
            copy_window(samples, starts[w], window, expected.data());
            ASSERT_TRUE(std::equal(expected.begin(), expected.end(), packed.begin() + static_cast<std::ptrdiff_t>(w * window)))
                << where << " window " << w;
          }
        }
  EXPECT_THROW(WindowStream(0, 1), Error);
  EXPECT_THROW(WindowStream(1, 0), Error);
}

}  // namespace
}  // namespace oneshot
