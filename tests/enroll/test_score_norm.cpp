// AS-norm against hand-computed cohorts, and the logistic calibration against
// the known log-likelihood ratio of two Gaussians.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "enroll/score_norm.h"

namespace oneshot {
namespace {

TEST(TopKStats, HandComputed) {
  // The 3 highest of {1, 5, 3, 9, 7} are 9, 7, 5: mean 7, population variance (4 + 0 + 4) / 3.
  const std::vector<double> s{1, 5, 3, 9, 7};
  const CohortStats st = top_k_stats(s.data(), s.size(), 3);
  EXPECT_DOUBLE_EQ(st.mean, 7.0);
  EXPECT_DOUBLE_EQ(st.sd, std::sqrt(8.0 / 3.0));
  // K larger than the cohort: all of it (mean 5, variance (16 + 0 + 4 + 16 + 4) / 5 = 8).
  const CohortStats all = top_k_stats(s.data(), s.size(), 100);
  EXPECT_DOUBLE_EQ(all.mean, 5.0);
  EXPECT_DOUBLE_EQ(all.sd, std::sqrt(8.0));
  // K = 1: the single best, sd floored.
  const CohortStats one = top_k_stats(s.data(), s.size(), 1);
  EXPECT_DOUBLE_EQ(one.mean, 9.0);
  EXPECT_DOUBLE_EQ(one.sd, kMinCohortSd);
}

TEST(TopKStats, RefusesAnEmptyCohortOrK0) {
  const std::vector<double> s{1.0};
  EXPECT_THROW(top_k_stats(s.data(), 0, 3), Error);
  EXPECT_THROW(top_k_stats(s.data(), 1, 0), Error);
}

TEST(AsNorm, HandComputedCohortOfEmbeddings) {
  // Score = dot product of 2-D embeddings. Cohort c1..c4 = (1,0) (0,1) (1,1) (-1,0).
  // Enrolled prototype e = (0.2, 0.4): cohort scores 0.2, 0.4, 0.6, -0.2.
  // Test window t = (2, 1): cohort scores 2, 1, 3, -2.   s(e, t) = 0.4 + 0.4 = 0.8.
  const std::vector<std::vector<double>> cohort{{1, 0}, {0, 1}, {1, 1}, {-1, 0}};
  const std::vector<double> e{0.2, 0.4}, t{2, 1};
  auto dot = [](const std::vector<double>& x, const std::vector<double>& y) { return x[0] * y[0] + x[1] * y[1]; };
  std::vector<double> se, st;
  for (const auto& c : cohort) {
    se.push_back(dot(e, c));
    st.push_back(dot(t, c));
  }
  // Top 3: e side {0.6, 0.4, 0.2}: mean 0.4, var 0.08 / 3; t side {3, 2, 1}: mean 2, var 2 / 3.
  const CohortStats ce = top_k_stats(se.data(), se.size(), 3), ct = top_k_stats(st.data(), st.size(), 3);
  EXPECT_NEAR(ce.mean, 0.4, 1e-12);
  EXPECT_NEAR(ce.sd, std::sqrt(0.08 / 3), 1e-12);
  EXPECT_NEAR(ct.mean, 2.0, 1e-12);
  EXPECT_NEAR(ct.sd, std::sqrt(2.0 / 3), 1e-12);
  // ((0.8 - 0.4) / 0.163299 + (0.8 - 2) / 0.816497) / 2 = (2.449490 - 1.469694) / 2 = 0.489898.
  const double s = dot(e, t);
  EXPECT_NEAR(as_norm(s, ce, ct), 0.4898979, 1e-6);
  // Symmetric in its two sides.
  EXPECT_DOUBLE_EQ(as_norm(s, ce, ct), as_norm(s, ct, ce));
  // A score at both cohort means normalises to 0; one sd above both, to 1.
  EXPECT_DOUBLE_EQ(as_norm(5, {5, 2}, {5, 3}), 0.0);
  EXPECT_DOUBLE_EQ(as_norm(7, {5, 2}, {4, 3}), 1.0);
}

TEST(AsNorm, TableUsesTheClassAndTheWindowStatistics) {
  // 2 windows x 2 classes.
  std::vector<double> scores{1, 2, 3, 4};
  const std::vector<CohortStats> cls{{0, 1}, {1, 2}}, win{{1, 1}, {2, 4}};
  as_norm_table(scores, 2, cls, win);
  EXPECT_DOUBLE_EQ(scores[0], 0.5 * ((1 - 0) / 1.0 + (1 - 1) / 1.0));  // 0.5
  EXPECT_DOUBLE_EQ(scores[1], 0.5 * ((2 - 1) / 2.0 + (2 - 1) / 1.0));  // 0.75
  EXPECT_DOUBLE_EQ(scores[2], 0.5 * ((3 - 0) / 1.0 + (3 - 2) / 4.0));  // 1.625
  EXPECT_DOUBLE_EQ(scores[3], 0.5 * ((4 - 1) / 2.0 + (4 - 2) / 4.0));  // 1.0
  std::vector<double> wrong{1, 2, 3};
  EXPECT_THROW(as_norm_table(wrong, 2, cls, win), Error);
}

TEST(AsNorm, RowsOfATable) {
  const std::vector<double> table{1, 2, 3, 10, 10, 10};
  const auto rows = top_k_stats_rows(table, 2, 3, 2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[0].mean, 2.5);
  EXPECT_DOUBLE_EQ(rows[0].sd, 0.5);
  EXPECT_DOUBLE_EQ(rows[1].mean, 10);
  EXPECT_DOUBLE_EQ(rows[1].sd, kMinCohortSd);
  EXPECT_THROW(top_k_stats_rows(table, 2, 2, 2), Error);
  // Columns of the same table seen as 3 x 2: {1, 3, 10} and {2, 10, 10}; top 2.
  const auto cols = top_k_stats_columns(table, 3, 2, 2);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_DOUBLE_EQ(cols[0].mean, 6.5);
  EXPECT_DOUBLE_EQ(cols[0].sd, 3.5);
  EXPECT_DOUBLE_EQ(cols[1].mean, 10);
  EXPECT_THROW(top_k_stats_columns(table, 4, 2, 2), Error);
}

// Targets N(2, 1), non-targets N(-2, 1): the log-likelihood ratio is 4 s, so
// with a prior of 0.5 the calibration is a = 4, b = 0 — whatever the counts,
// since each side weighs half.
TEST(LogisticCalibration, RecoversTheLikelihoodRatioOfTwoGaussians) {
  std::mt19937 rng(7);
  std::normal_distribution<double> target(2, 1), non_target(-2, 1);
  std::vector<double> t, n;
  for (int i = 0; i < 20000; ++i) t.push_back(target(rng));
  for (int i = 0; i < 200000; ++i) n.push_back(non_target(rng));
  const LogisticCalibration c = fit_logistic_calibration(t, n, 0.0);
  EXPECT_NEAR(c.a, 4.0, 0.15);
  EXPECT_NEAR(c.b, 0.0, 0.15);
  EXPECT_NEAR(c.confidence(0.0), 0.5, 0.04);
  EXPECT_GT(c.confidence(1.0), 0.97);
  EXPECT_LT(c.confidence(-1.0), 0.03);
}

TEST(LogisticCalibration, SeparableScoresGiveAFiniteSlope) {
  const LogisticCalibration c = fit_logistic_calibration({1, 2, 3}, {-1, -2, -3});
  EXPECT_TRUE(std::isfinite(c.a));
  EXPECT_GT(c.a, 0);
  EXPECT_NEAR(c.b, 0, 1e-6);  // symmetric data
  EXPECT_GT(c.confidence(1), 0.9);
  EXPECT_LT(c.confidence(-1), 0.1);
}

TEST(LogisticCalibration, RefusesEmptyOrNonFiniteScores) {
  EXPECT_THROW(fit_logistic_calibration({}, {1.0}), Error);
  EXPECT_THROW(fit_logistic_calibration({1.0}, {}), Error);
  EXPECT_THROW(fit_logistic_calibration({1.0, std::nan("")}, {0.0}), Error);
}

}  // namespace
}  // namespace oneshot
