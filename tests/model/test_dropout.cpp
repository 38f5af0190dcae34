#include <gtest/gtest.h>

#include "core/error.h"
#include "model/dropout.h"
#include "model/runtime.h"

namespace oneshot {
namespace {

TEST(Dropout, MaskHasTheRightRateAndScale) {
  const auto like = torch::empty({1000, 100});
  for (double p : {0.1, 0.25, 0.5}) {
    const auto mask = dropout_mask(like, p, 42);
    const double dropped = (mask == 0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(dropped, p, 0.01) << p;
    const auto kept = mask.masked_select(mask != 0);
    EXPECT_TRUE(torch::allclose(kept, torch::full_like(kept, 1.0 / (1.0 - p))));
  }
  EXPECT_EQ((dropout_mask(like, 0.0, 1) == 0).sum().item<int64_t>(), 0);
  EXPECT_THROW(dropout_mask(like, 1.0, 1), Error);
}

TEST(Dropout, SeedDeterminesTheMaskWhateverTheThreadCount) {
  const auto like = torch::empty({64, 8, 30, 40});
  configure_runtime(1);
  const auto one = dropout_mask(like, 0.25, 7);
  configure_runtime(2);
  const auto two = dropout_mask(like, 0.25, 7);
  EXPECT_TRUE(torch::equal(one, two));
  EXPECT_FALSE(torch::equal(one, dropout_mask(like, 0.25, 8)));
  // Neighbouring elements are not correlated (both halves of a hash are used).
  const auto flat = one.flatten();
  const auto even = (flat.slice(0, 0, flat.numel(), 2) == 0).to(torch::kDouble);
  const auto odd = (flat.slice(0, 1, flat.numel(), 2) == 0).to(torch::kDouble);
  EXPECT_NEAR((even * odd).mean().item<double>(), 0.25 * 0.25, 0.01);
}

TEST(Dropout, MaskFollowsTheLayoutAndDtype) {
  const auto x = as_channels_last(torch::randn({2, 3, 4, 5}));
  const auto mask = dropout_mask(x, 0.5, 1);
  EXPECT_TRUE(is_channels_last(mask));
  EXPECT_EQ(dropout_mask(x.to(torch::kBFloat16), 0.5, 1).scalar_type(), torch::kBFloat16);
}

TEST(Dropout, ModuleTrainEvalAndGradient) {
  Dropout dropout(0.25);
  const auto x = torch::randn({20, 50}, torch::requires_grad());
  dropout->eval();
  EXPECT_TRUE(torch::equal(dropout->forward(x), x));
  dropout->train();
  torch::manual_seed(5);
  const auto y = dropout->forward(x);
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(dropout->forward(x), y));  // global seed -> same mask
  y.sum().backward();
  // d(x * mask)/dx = mask: zero exactly where the output was dropped.
  EXPECT_TRUE(torch::equal(x.grad() == 0, y == 0));
  const auto kept = x.grad().masked_select(x.grad() != 0);
  EXPECT_TRUE(torch::allclose(kept, torch::full_like(kept, 1 / 0.75)));
}

}  // namespace
}  // namespace oneshot
