#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"

using namespace oneshot;

TEST(Parallel, VisitsEveryItemOnce) {
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(hits.size(), 4, [&](std::size_t i, int w) {
    EXPECT_GE(w, 0);
    EXPECT_LT(w, 4);
    hits[i]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(Parallel, RethrowsTheFirstError) {
  EXPECT_THROW(parallel_for(100, 2, [](std::size_t i, int) {
                 if (i == 37) throw std::runtime_error("boom");
               }),
               std::runtime_error);
}
