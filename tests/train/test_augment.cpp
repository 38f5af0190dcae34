// Augmentation: deterministic under a seed, shape-preserving, each transform
// doing what its key says, and off when its key is 0.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "train/augment.h"

namespace oneshot {
namespace {

torch::Tensor clips(int64_t b = 4, int64_t m = 16, int64_t t = 40) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  return torch::randn({b, 1, m, t}, gen, torch::kFloat);
}

AugmentConfig only(const std::string& which) {
  AugmentConfig a = no_augmentation();
  if (which == "shift") a.time_shift = 0.5;
  if (which == "time_masks") a.time_masks = 2, a.time_mask_width = 0.2;
  if (which == "freq_masks") a.freq_masks = 2, a.freq_mask_width = 0.2;
  if (which == "gain") a.gain_db = 6;
  if (which == "mixup") a.mixup = 0.4;
  return a;
}

TEST(Augment, EachIsDeterministicUnderASeedAndKeepsTheShape) {
  const auto x = clips();
  for (const char* which : {"shift", "time_masks", "freq_masks", "gain"}) {
    Rng r1(augment_seed(3, 17)), r2(augment_seed(3, 17)), r3(augment_seed(3, 18));
    const auto a = augment_clips(x, only(which), r1);
    const auto b = augment_clips(x, only(which), r2);
    const auto c = augment_clips(x, only(which), r3);
    EXPECT_EQ(a.sizes(), x.sizes()) << which;
    EXPECT_TRUE(torch::equal(a, b)) << which;
    EXPECT_FALSE(torch::equal(a, c)) << which << ": another step draws otherwise";
    EXPECT_FALSE(torch::equal(a, x)) << which << ": changed something";
  }
  auto m1 = x.clone(), m2 = x.clone();
  Rng r1(9), r2(9);
  const std::vector<int64_t> rows{0, 1, 2, 3};
  const MixPlan p1 = mixup_clips(m1, rows, rows, only("mixup"), r1);
  const MixPlan p2 = mixup_clips(m2, rows, rows, only("mixup"), r2);
  EXPECT_TRUE(torch::equal(m1, m2));
  EXPECT_EQ(p1.partner, p2.partner);
  EXPECT_EQ(p1.weight, p2.weight);
  EXPECT_EQ(m1.sizes(), x.sizes());
}

TEST(Augment, OffMeansIdentity) {
  const auto x = clips();
  Rng rng(1);
  EXPECT_TRUE(torch::equal(augment_clips(x, no_augmentation(), rng), x));
  auto y = x.clone();
  EXPECT_TRUE(mixup_clips(y, {0, 1}, {0, 1, 2, 3}, no_augmentation(), rng).empty());
  EXPECT_TRUE(torch::equal(y, x));
}

TEST(Augment, ShiftIsACircularRollOfEachClip) {
  const auto x = clips(3);
  Rng rng(2);
  const auto y = augment_clips(x, only("shift"), rng);
  for (int64_t i = 0; i < 3; ++i) {
    bool found = false;
    for (int64_t s = -20; s <= 20 && !found; ++s) found = torch::equal(torch::roll(x[i], {s}, {2}), y[i]);
    EXPECT_TRUE(found) << "clip " << i << " is not a roll of the input";
  }
}

TEST(Augment, GainAddsOneConstantPerClipInTheLogDomain) {
  const auto x = clips(3);
  Rng rng(4);
  const auto y = augment_clips(x, only("gain"), rng);
  const double limit = 6 * std::log(10.0) / 10;  // 6 dB of power in natural-log units
  for (int64_t i = 0; i < 3; ++i) {
    const auto d = (y[i] - x[i]);
    EXPECT_NEAR(d.max().item<float>(), d.min().item<float>(), 1e-5);
    EXPECT_LE(std::abs(d.mean().item<double>()), limit + 1e-6);
  }
}

TEST(Augment, MasksSetSpansToTheClipMean) {
  const auto x = clips(2, 16, 40);
  Rng rng(6);
  const auto y = augment_clips(x, only("time_masks"), rng);
  for (int64_t i = 0; i < 2; ++i) {
    const float mean = x[i].mean().item<float>();
    // A changed frame is a whole column at the clip's mean value.
    const auto changed = (y[i][0] != x[i][0]).any(0);  // (T)
    EXPECT_LE(changed.sum().item<int64_t>(), 2 * 8);   // 2 masks of up to 0.2 x 40 frames
    for (int64_t t = 0; t < 40; ++t)
      if (changed[t].item<bool>())
        EXPECT_TRUE(torch::allclose(y[i][0].select(1, t), torch::full({16}, mean))) << "frame " << t;
  }
}

TEST(Augment, MixupWeightsFavourTheClipsOwnClass) {
  auto x = clips(6);
  const auto before = x.clone();
  Rng rng(8);
  const std::vector<int64_t> rows{1, 3}, partners{0, 1, 2, 3, 4, 5};
  const MixPlan plan = mixup_clips(x, rows, partners, only("mixup"), rng);
  for (int64_t i = 0; i < 6; ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (i == 1 || i == 3) {
      EXPECT_NE(plan.partner[u], i);
      EXPECT_GE(plan.weight[u], 0.5f);
      EXPECT_LE(plan.weight[u], 1.0f);
      const float l = plan.weight[u];
      EXPECT_TRUE(torch::allclose(x[i], before[i] * l + before[plan.partner[u]] * (1 - l), 1e-5, 1e-5));
    } else {
      EXPECT_EQ(plan.partner[u], i);
      EXPECT_TRUE(torch::equal(x[i], before[i]));
    }
  }
}

TEST(Augment, BetaSamplesHaveTheRightMean) {
  Rng rng(11);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) sum += beta_sample(rng, 2.0, 6.0);
  EXPECT_NEAR(sum / 20000, 0.25, 0.01);  // a / (a + b)
}

}  // namespace
}  // namespace oneshot
