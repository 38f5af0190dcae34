// Augmentation: deterministic under a seed, shape-preserving, each transform
// doing what its key says, and off when its key is 0.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
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
  if (which == "stretch") a.time_stretch = 0.25;
  if (which == "freq_shift") a.freq_shift = 3;
  return a;
}

TEST(Augment, EachIsDeterministicUnderASeedAndKeepsTheShape) {
  const auto x = clips();
  for (const char* which : {"shift", "time_masks", "freq_masks", "gain", "stretch", "freq_shift"}) {
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

TEST(Augment, StretchResamplesLinearlyThenCutsOrRepeatsToTheFrames) {
  // One band 0, 1, 2, 3. Twice as long (align_corners = false: source = (d + 0.5) / 2 - 0.5, clamped at 0):
  // 0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3; frames [0, 4) and [3, 7) of it.
  const auto ramp = torch::arange(4, torch::kFloat).view({1, 4});
  const auto longer = stretch_clip(ramp, 2.0, 0);
  EXPECT_TRUE(torch::allclose(longer, torch::tensor({0.f, 0.25f, 0.75f, 1.25f}).view({1, 4})));
  EXPECT_TRUE(torch::allclose(stretch_clip(ramp, 2.0, 3), torch::tensor({1.25f, 1.75f, 2.25f, 2.75f}).view({1, 4})));
  // Half as long: source = (d + 0.5) x 2 - 0.5 = 0.5, 2.5; then repeated circularly to 4 frames.
  EXPECT_TRUE(torch::allclose(stretch_clip(ramp, 0.5, 0), torch::tensor({0.5f, 2.5f, 0.5f, 2.5f}).view({1, 4})));
  EXPECT_TRUE(torch::equal(stretch_clip(ramp, 1.0, 0), ramp));
  EXPECT_THROW(stretch_clip(ramp, 0.0, 0), Error);
  EXPECT_THROW(stretch_clip(ramp.view({4}), 1.0, 0), Error);
}

TEST(Augment, StretchedClipsStayInsideTheRateLimit) {
  // A clip whose every frame holds its own index: a stretch by r moves frame f's value to about f x r, so
  // the step between neighbouring frames (away from the circular seam) is 1 / r, within [1 / 1.25, 1.25].
  const int64_t t = 200;
  const auto x = torch::arange(t, torch::kFloat).view({1, 1, 1, t}).repeat({8, 1, 3, 1});
  Rng rng(7);
  const auto y = augment_clips(x, only("stretch"), rng);
  int changed = 0;
  for (int64_t i = 0; i < 8; ++i) {
    const auto steps = y[i][0][0].narrow(0, 1, 60) - y[i][0][0].narrow(0, 0, 60);
    EXPECT_GE(steps.min().item<float>(), 1 / 1.25f - 1e-3) << "clip " << i;
    EXPECT_LE(steps.max().item<float>(), 1.25f + 1e-3) << "clip " << i;
    EXPECT_TRUE(torch::equal(y[i][0][0], y[i][0][2])) << "every band is stretched alike";
    changed += std::abs(steps.mean().item<float>() - 1) > 1e-3;
  }
  EXPECT_GE(changed, 6);
}

TEST(Augment, FrequencyShiftMovesBandsAndFillsWithTheClipMinimum) {
  const auto clip = torch::arange(12, torch::kFloat).view({4, 3});  // band b holds 3b, 3b + 1, 3b + 2
  const auto up = shift_bands(clip, 1);
  EXPECT_TRUE(torch::equal(up.narrow(0, 1, 3), clip.narrow(0, 0, 3)));
  EXPECT_TRUE(torch::equal(up[0], torch::zeros({3})));  // the clip's minimum is 0
  const auto down = shift_bands(clip + 5, -2);
  EXPECT_TRUE(torch::equal(down.narrow(0, 0, 2), (clip + 5).narrow(0, 2, 2)));
  EXPECT_TRUE(torch::equal(down.narrow(0, 2, 2), torch::full({2, 3}, 5.f)));
  EXPECT_THROW(shift_bands(clip, 4), Error);
  EXPECT_THROW(shift_bands(clip, -4), Error);
  // Through augment_clips: every clip is some shift in [-3, 3] of its input.
  const auto x = clips(6);
  Rng rng(3);
  const auto y = augment_clips(x, only("freq_shift"), rng);
  int moved = 0;
  for (int64_t i = 0; i < 6; ++i) {
    int found = 99;
    for (int64_t b = -3; b <= 3 && found == 99; ++b)
      if (torch::equal(shift_bands(x[i][0], b), y[i][0])) found = static_cast<int>(b);
    EXPECT_NE(found, 99) << "clip " << i << " is not a shift of its input by at most 3 bands";
    moved += found != 0 && found != 99;
  }
  EXPECT_GE(moved, 3);
}

TEST(Augment, BackgroundAddsAnotherClassAtTheDrawnSnrInThePowerDomain) {
  AugmentConfig a = no_augmentation();
  a.background = 1;
  a.background_snr_min = a.background_snr_max = 10;  // the partner's mean power a tenth of the clip's
  const auto x = clips(2, 6, 10);
  auto y = x.clone();
  Rng rng(5);
  EXPECT_EQ(mix_backgrounds(y, {0, 1}, a, rng), (std::vector<int64_t>{0, 1}));
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t j = 1 - i;
    const double p_i = x[i].exp().mean().item<double>(), p_j = x[j].exp().mean().item<double>();
    // By hand: e^y = e^x_i + g e^x_j, g = (P_i / P_j) 10^(-10/10), so mean power 1.1 P_i.
    EXPECT_NEAR(y[i].exp().mean().item<double>(), 1.1 * p_i, 1e-4 * p_i);
    const auto expected = (x[i].exp() + x[j].exp() * (p_i / p_j) * 0.1).log();
    EXPECT_TRUE(torch::allclose(y[i], expected, 1e-4, 1e-5)) << "row " << i;
  }
}

TEST(Augment, BackgroundPartnersAreOfAnotherClassAndOffDrawsNothing) {
  AugmentConfig a = no_augmentation();
  a.background = 1;
  a.background_snr_min = 0;
  a.background_snr_max = 20;
  const auto x = clips(3, 4, 8);
  // One class only: nothing to mix with.
  auto same = x.clone();
  Rng r0(1);
  EXPECT_TRUE(mix_backgrounds(same, {4, 4, 4}, a, r0).empty());
  EXPECT_TRUE(torch::equal(same, x));
  // Rows 0 and 1 share a class: each can only be mixed with row 2, so the difference of its power from the
  // original's is row 2's (scaled) power pattern.
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    auto y = x.clone();
    Rng rng(seed);
    mix_backgrounds(y, {7, 7, 9}, a, rng);
    for (int64_t i = 0; i < 2; ++i) {
      const auto added = (y[i].exp() - x[i].exp()) / x[2].exp();
      EXPECT_NEAR(added.max().item<double>(), added.min().item<double>(), 1e-3 * added.mean().item<double>())
          << "row " << i << " was mixed with a clip other than row 2";
      const double snr = 10 * std::log10(x[i].exp().mean().item<double>() / (y[i].exp() - x[i].exp()).mean().item<double>());
      EXPECT_GE(snr, -1e-3);
      EXPECT_LE(snr, 20 + 1e-3);
    }
  }
  a.background = 0;
  auto off = x.clone();
  Rng r1(3), r2(3);
  EXPECT_TRUE(mix_backgrounds(off, {1, 2, 3}, a, r1).empty());
  EXPECT_TRUE(torch::equal(off, x));
  EXPECT_EQ(r1(), r2()) << "off draws nothing, so recipes without it draw as before";
  a.background = 1;
  EXPECT_THROW(mix_backgrounds(off, {1, 2}, a, r1), Error);
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
