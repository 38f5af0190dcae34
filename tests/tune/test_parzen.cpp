// The pieces of hyperopt's TPE against values worked out by hand from the
// formulas in hyperopt/tpe.py.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "tune/parzen.h"

namespace oneshot::tune {
namespace {

constexpr double kTol = 1e-12;

TEST(LinearForgetting, AllOnesUpToTheWindow) {
  EXPECT_TRUE(linear_forgetting_weights(0, 25).empty());
  for (double w : linear_forgetting_weights(24, 25)) EXPECT_EQ(w, 1.0);
  for (double w : linear_forgetting_weights(25, 25)) EXPECT_EQ(w, 1.0);  // ramp of length 0
}

TEST(LinearForgetting, RampsTheOldestBeyondTheWindow) {
  // linspace(1/30, 1, 5) then 25 ones: 1/30, 8.25/30, 15.5/30, 22.75/30, 1.
  const auto w = linear_forgetting_weights(30, 25);
  ASSERT_EQ(w.size(), 30u);
  EXPECT_NEAR(w[0], 1.0 / 30, kTol);
  EXPECT_NEAR(w[1], 8.25 / 30, kTol);
  EXPECT_NEAR(w[2], 15.5 / 30, kTol);
  EXPECT_NEAR(w[3], 22.75 / 30, kTol);
  EXPECT_NEAR(w[4], 1.0, kTol);
  for (std::size_t i = 5; i < 30; ++i) EXPECT_EQ(w[i], 1.0);
  // A ramp of one: linspace(1/26, 1, 1) = [1/26].
  EXPECT_NEAR(linear_forgetting_weights(26, 25)[0], 1.0 / 26, kTol);
}

TEST(AdaptiveParzen, NoObservationIsThePrior) {
  const std::vector<double> none;
  const Mixture m = adaptive_parzen_normal(none, 1.0, 2.5, 4.0);
  EXPECT_EQ(m.mus, std::vector<double>{2.5});
  EXPECT_EQ(m.sigmas, std::vector<double>{4.0});
  EXPECT_EQ(m.weights, std::vector<double>{1.0});
}

TEST(AdaptiveParzen, OneObservationHasHalfThePriorWidth) {
  const std::vector<double> above_prior{5.0};
  Mixture m = adaptive_parzen_normal(above_prior, 1.0, 2.0, 4.0);
  EXPECT_EQ(m.mus, (std::vector<double>{2.0, 5.0}));
  EXPECT_EQ(m.sigmas, (std::vector<double>{4.0, 2.0}));
  EXPECT_EQ(m.weights, (std::vector<double>{0.5, 0.5}));
  // An observation equal to the prior's mean goes first (prior_mu < mus[0] is false).
  const std::vector<double> at_prior{2.0};
  m = adaptive_parzen_normal(at_prior, 3.0, 2.0, 4.0);
  EXPECT_EQ(m.sigmas, (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(m.weights, (std::vector<double>{0.25, 0.75}));
}

TEST(AdaptiveParzen, WidthsAreTheLargerNeighbourGapClipped) {
  // Observations 4, 1, 3 with the prior at 2.5: sorted 1, [2.5], 3, 4.
  // Raw widths: 1.5 (edge), prior, max(0.5, 1) = 1, 1 (edge).
  // Clip to [3 / min(100, 1 + 4), 3] = [0.6, 3]; the prior keeps 3.
  const std::vector<double> obs{4.0, 1.0, 3.0};
  const Mixture m = adaptive_parzen_normal(obs, 2.0, 2.5, 3.0);
  EXPECT_EQ(m.mus, (std::vector<double>{1.0, 2.5, 3.0, 4.0}));
  EXPECT_EQ(m.sigmas, (std::vector<double>{1.5, 3.0, 1.0, 1.0}));
  EXPECT_EQ(m.weights, (std::vector<double>{0.2, 0.4, 0.2, 0.2}));  // prior weight 2 of 5
}

TEST(AdaptiveParzen, NarrowGapsAreClippedUpToTheMinimum) {
  // 1, 1.1, 1.2 with the prior at 5 (sigma 10): gaps 0.1 -> min width 10 / 5 = 2.
  const std::vector<double> obs{1.0, 1.1, 1.2};
  const Mixture m = adaptive_parzen_normal(obs, 1.0, 5.0, 10.0);
  EXPECT_EQ(m.mus, (std::vector<double>{1.0, 1.1, 1.2, 5.0}));
  const std::vector<double> expected{2.0, 2.0, 3.8, 10.0};  // 1.2's gap to the prior is 3.8
  for (std::size_t k = 0; k < 4; ++k) EXPECT_NEAR(m.sigmas[k], expected[k], kTol) << k;
}

TEST(AdaptiveParzen, MinimumWidthStopsShrinkingAtOneHundredth) {
  std::vector<double> obs;
  for (int i = 0; i < 200; ++i) obs.push_back(0.5 + 1e-6 * i);
  // 201 components: min width 1 / min(100, 202); the prior sorts first.
  const Mixture m = adaptive_parzen_normal(obs, 1.0, 0.5, 1.0, 0);  // lf = 0: no forgetting
  ASSERT_EQ(m.sigmas.size(), 201u);
  EXPECT_EQ(m.sigmas[0], 1.0);
  for (std::size_t k = 1; k < m.sigmas.size(); ++k) EXPECT_EQ(m.sigmas[k], 0.01) << k;
}

TEST(AdaptiveParzen, ForgettingWeightsFollowAgeNotPosition) {
  // 30 observations, the oldest the largest: after sorting, the last
  // component is the oldest observation and gets the smallest weight 1/30.
  std::vector<double> obs;
  for (int i = 0; i < 30; ++i) obs.push_back(29.0 - i);
  const Mixture m = adaptive_parzen_normal(obs, 1.0, -100.0, 200.0);
  const double total = (1.0 + 8.25 + 15.5 + 22.75) / 30 + 1.0 + 25.0 + 1.0;  // ramp + ones + prior
  ASSERT_EQ(m.weights.size(), 31u);
  EXPECT_EQ(m.mus[0], -100.0);
  EXPECT_NEAR(m.weights[0], 1.0 / total, kTol);          // the prior
  EXPECT_NEAR(m.weights[1], 1.0 / total, kTol);          // value 0, the newest
  EXPECT_NEAR(m.weights[30], (1.0 / 30) / total, kTol);  // value 29, the oldest
  EXPECT_NEAR(m.weights[29], (8.25 / 30) / total, kTol);
}

TEST(Split, BelowCountFollowsGammaSqrtN) {
  EXPECT_EQ(n_below(1, 0.25), 1u);
  EXPECT_EQ(n_below(16, 0.25), 1u);     // ceil(1.0)
  EXPECT_EQ(n_below(17, 0.25), 2u);     // ceil(1.03)
  EXPECT_EQ(n_below(100, 0.25), 3u);    // ceil(2.5)
  EXPECT_EQ(n_below(10000, 0.25), 25u); // ceil(25)
  EXPECT_EQ(n_below(10001, 0.25), 25u); // capped
  EXPECT_EQ(n_below(100, 0.5), 5u);
}

TEST(Split, LowestLossesBelowInTrialOrder) {
  std::vector<double> losses(17);
  for (int i = 0; i < 17; ++i) losses[i] = 10.0 + i;
  losses[12] = 0.5;
  losses[5] = 0.7;
  losses[3] = std::numeric_limits<double>::infinity();  // a running or failed trial
  const Split s = split_trials(losses, 0.25);
  EXPECT_EQ(s.below, (std::vector<std::size_t>{5, 12}));
  ASSERT_EQ(s.above.size(), 15u);
  EXPECT_EQ(s.above.front(), 0u);
  EXPECT_EQ(s.above.back(), 16u);
  EXPECT_TRUE(std::is_sorted(s.above.begin(), s.above.end()));
}

TEST(Split, TiesKeepTheEarlierTrial) {
  const std::vector<double> losses{0.3, 0.1, 0.2, 0.1};
  const Split s = split_trials(losses, 0.25);  // n_below = 1
  EXPECT_EQ(s.below, std::vector<std::size_t>{1});
  EXPECT_EQ(s.above, (std::vector<std::size_t>{0, 2, 3}));
}

TEST(CategoricalPosterior, CountsPlusPrior) {
  const std::vector<std::size_t> obs{0, 2, 2};
  const auto p = categorical_posterior(obs, 3, 1.0);
  EXPECT_NEAR(p[0], 2.0 / 6, kTol);
  EXPECT_NEAR(p[1], 1.0 / 6, kTol);
  EXPECT_NEAR(p[2], 3.0 / 6, kTol);
  const std::vector<std::size_t> none;
  for (double v : categorical_posterior(none, 4, 1.0)) EXPECT_NEAR(v, 0.25, kTol);
}

TEST(CategoricalPosterior, OldCountsAreForgotten) {
  // 26 observations: the oldest (choice 0) weighs 1/26, the 25 others choice 1.
  std::vector<std::size_t> obs(26, 1);
  obs[0] = 0;
  const auto p = categorical_posterior(obs, 3, 1.0);
  const double total = (1 + 1.0 / 26) + 26 + 1;
  EXPECT_NEAR(p[0], (1 + 1.0 / 26) / total, kTol);
  EXPECT_NEAR(p[1], 26 / total, kTol);
  EXPECT_NEAR(p[2], 1 / total, kTol);
  EXPECT_THROW(categorical_posterior(std::vector<std::size_t>{3}, 3, 1.0), Error);
}

double phi(double x, double mu, double sigma) {
  return std::exp(-0.5 * std::pow((x - mu) / sigma, 2)) / std::sqrt(2 * std::numbers::pi * sigma * sigma);
}
double Phi(double x) { return 0.5 * (1 + std::erf(x / std::numbers::sqrt2)); }

TEST(GmmLogPdf, UnboundedMixtureIsTheWeightedSum) {
  // hyperopt's test_lpdf_vector_N_components.
  const Mixture m{{0.25, 0.25, 0.5}, {0.0, 1.0, 2.0}, {1.0, 2.0, 5.0}};
  const double inf = std::numeric_limits<double>::infinity();
  for (double x : {1.0, 0.0, -3.0}) {
    const double a = 0.25 * phi(x, 0, 1) + 0.25 * phi(x, 1, 2) + 0.5 * phi(x, 2, 5);
    EXPECT_NEAR(gmm_log_pdf(x, m, -inf, inf, 0), std::log(a), 1e-12) << x;
  }
}

TEST(GmmLogPdf, TruncationRenormalises) {
  const Mixture m{{1.0}, {0.0}, {1.0}};
  // Half a standard normal on [0, inf): density doubles.
  EXPECT_NEAR(gmm_log_pdf(0.5, m, 0, std::numeric_limits<double>::infinity(), 0), std::log(2 * phi(0.5, 0, 1)), 1e-12);
  // Quantised: P(x = 1) is the mass of [0.5, 1.5] over the mass of [-2, 2];
  // at the bound 2 the bin is cut to [1.5, 2].
  const double p_accept = Phi(2) - Phi(-2);
  EXPECT_NEAR(gmm_log_pdf(1, m, -2, 2, 1), std::log((Phi(1.5) - Phi(0.5)) / p_accept), 1e-12);
  EXPECT_NEAR(gmm_log_pdf(2, m, -2, 2, 1), std::log((Phi(2) - Phi(1.5)) / p_accept), 1e-12);
}

TEST(LgmmLogPdf, LogNormalMixture) {
  const Mixture m{{0.5, 0.5}, {0.0, 1.0}, {1.0, 0.5}};
  const double x = std::exp(0.5);
  auto lognormal = [](double x, double mu, double s) {
    return std::exp(-0.5 * std::pow((std::log(x) - mu) / s, 2)) / (s * x * std::sqrt(2 * std::numbers::pi));
  };
  EXPECT_NEAR(lgmm_log_pdf(x, m), std::log(0.5 * lognormal(x, 0, 1) + 0.5 * lognormal(x, 1, 0.5)), 1e-12);
}

TEST(GmmSampling, StaysInBoundsAndRoundsHalfToEven) {
  const Mixture m{{0.5, 0.5}, {0.0, 3.0}, {2.0, 0.5}};
  Rng rng(7);
  for (int i = 0; i < 5000; ++i) {
    const double x = sample_gmm(m, -1.0, 3.5, 0, rng);
    EXPECT_GE(x, -1.0);
    EXPECT_LT(x, 3.5);
    const double qx = sample_gmm(m, -1.0, 3.5, 0.5, rng);
    EXPECT_EQ(qx, std::nearbyint(qx / 0.5) * 0.5);
  }
  EXPECT_EQ(std::nearbyint(2.5), 2.0);  // numpy.round's rule, which the quantiser relies on
}

}  // namespace
}  // namespace oneshot::tune
