// From scores to decisions: the threshold at a false-accept rate against hand
// counts (with ties), tightening by negatives, and the example and window
// aggregates against hand-computed tables.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "enroll/decision.h"

namespace oneshot {
namespace {

std::size_t count_above(const std::vector<double>& v, double t) {
  return static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [&](double s) { return s > t; }));
}

std::vector<std::size_t> order(const std::vector<ClassDecision>& d) {
  std::vector<std::size_t> o;
  for (const auto& x : d) o.push_back(x.cls);
  return o;
}

TEST(CalibrateThreshold, HandComputedExample) {
  // Sorted descending: 0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.1 0.0.
  const std::vector<double> different{0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0};
  const std::vector<double> same{0.65, 0.7, 0.75, 1.0};

  // far 0.2 of 10: at most 2 accepted, t = d[2] = 0.7 (0.9 and 0.8 are above
  // it); same-class scores <= 0.7 are rejected: 0.65 and 0.7, frr 2/4.
  Calibration c = calibrate_threshold(same, different, 0.2);
  EXPECT_EQ(c.threshold, 0.7);
  EXPECT_EQ(c.frr, 0.5);
  EXPECT_EQ(c.far, 0.2);
  EXPECT_EQ(c.same_pairs, 4);
  EXPECT_EQ(c.different_pairs, 10);
  EXPECT_EQ(count_above(different, c.threshold), 2u);

  // floor(0.25 * 10) = 2: the same threshold.
  EXPECT_EQ(calibrate_threshold(same, different, 0.25).threshold, 0.7);
  // floor(0.05 * 10) = 0: the highest different-class score, nothing accepted.
  c = calibrate_threshold(same, different, 0.05);
  EXPECT_EQ(c.threshold, 0.9);
  EXPECT_EQ(c.frr, 0.75);
  EXPECT_EQ(count_above(different, c.threshold), 0u);
  EXPECT_EQ(calibrate_threshold(same, different, 0.0).threshold, 0.9);
  // far 0.55: floor(5.5) = 5, t = d[5] = 0.4; 5 different-class scores above it, none of the same-class.
  c = calibrate_threshold(same, different, 0.55);
  EXPECT_EQ(c.threshold, 0.4);
  EXPECT_EQ(c.frr, 0.0);
  EXPECT_EQ(count_above(different, c.threshold), 5u);
}

TEST(CalibrateThreshold, FloorIsTheMedianDifferentClassScore) {
  const std::vector<double> different{5, 1, 4, 2, 3};
  EXPECT_EQ(calibrate_threshold({1.0}, different, 0.2).floor, 3.0);
}

TEST(CalibrateThreshold, TiesNeverAcceptMoreThanTheRate) {
  // Sorted: 2 2 2 2 1 1 0 0 0 0.
  const std::vector<double> different{0, 2, 1, 0, 2, 0, 2, 1, 0, 2};
  const std::vector<double> same{1, 1, 2, 3};
  // far 0.3: k = 3, d[3] = 2; a score must be > 2, so none of the four 2s is accepted.
  Calibration c = calibrate_threshold(same, different, 0.3);
  EXPECT_EQ(c.threshold, 2.0);
  EXPECT_EQ(count_above(different, c.threshold), 0u);
  EXPECT_EQ(c.frr, 0.75);  // 1, 1 and 2 are <= 2
  // far 0.5: k = 5, d[5] = 1; the four 2s are accepted (4 <= 5).
  c = calibrate_threshold(same, different, 0.5);
  EXPECT_EQ(c.threshold, 1.0);
  EXPECT_EQ(count_above(different, c.threshold), 4u);
  EXPECT_EQ(c.frr, 0.5);  // a tie with the threshold is a reject
  // far 0.4: k = 4, d[4] = 1: again the four 2s.
  EXPECT_EQ(calibrate_threshold(same, different, 0.4).threshold, 1.0);
}

TEST(CalibrateThreshold, AtMostFloorFarNAcceptedAndTight) {
  // Many ties (integers 0..7): for every rate, at most floor(far n) different-
  // class scores are above t, and t is a different-class score (lowering it to
  // the next one down would accept more than floor(far n)).
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> pick(0, 7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> different(37 + trial * 5);
    for (auto& d : different) d = pick(rng);
    for (double far : {0.0, 0.01, 0.05, 0.1, 0.2, 0.33, 0.5, 0.9, 0.99}) {
      const Calibration c = calibrate_threshold({3.0}, different, far);
      const auto k = static_cast<std::size_t>(std::floor(far * static_cast<double>(different.size())));
      EXPECT_LE(count_above(different, c.threshold), k) << far;
      EXPECT_GE(count_above(different, c.threshold - 0.5), std::min(k + 1, different.size())) << far;
    }
  }
}

TEST(CalibrateThreshold, BadRateOrEmptyScoresAreErrors) {
  const std::vector<double> s{1, 2}, d{0, 1};
  for (double far : {-0.01, 1.0, 1.5, std::nan("")}) EXPECT_THROW(calibrate_threshold(s, d, far), Error) << far;
  EXPECT_THROW(calibrate_threshold({}, d, 0.05), Error);
  EXPECT_THROW(calibrate_threshold(s, {}, 0.05), Error);
}

TEST(TightenWithNegatives, RaisesToTheHighestNegativeScore) {
  EXPECT_EQ(tighten_with_negatives(0.5, {}), 0.5);
  EXPECT_EQ(tighten_with_negatives(0.5, {0.2, 0.7, 0.6}), 0.7);
  EXPECT_EQ(tighten_with_negatives(0.5, {0.1, -3.0}), 0.5);  // never lowered
  EXPECT_EQ(tighten_with_negatives(0.5, {-std::numeric_limits<double>::infinity()}), 0.5);
}

TEST(AggregateExamples, MeanAndMaxPerClass) {
  // 2 windows x 4 examples of classes 0, 1, 0, 2.
  const std::vector<double> scores{1, 2, 3, 4,  //
                                   -1, 0, 5, -2};
  const std::vector<std::size_t> cls{0, 1, 0, 2};
  EXPECT_EQ(aggregate_examples(scores, 2, cls, 3, "mean"), (std::vector<double>{2, 2, 4, 2, 0, -2}));
  EXPECT_EQ(aggregate_examples(scores, 2, cls, 3, "max"), (std::vector<double>{3, 2, 4, 5, 0, -2}));
  // Uneven counts: class 0 has three examples.
  const std::vector<double> s3{0.5, 1.0, 2.0, 4.0};
  const auto mean = aggregate_examples(s3, 1, {0, 0, 1, 0}, 2, "mean");
  EXPECT_DOUBLE_EQ(mean[0], (0.5 + 1.0 + 4.0) / 3);
  EXPECT_DOUBLE_EQ(mean[1], 2.0);
}

TEST(AggregateExamples, BadInputIsAnError) {
  EXPECT_THROW(aggregate_examples({1, 2}, 1, {0, 1}, 2, "prototype"), Error);  // scored by the model
  EXPECT_THROW(aggregate_examples({1, 2}, 1, {0, 1}, 2, "median"), Error);
  EXPECT_THROW(aggregate_examples({1, 2, 3}, 1, {0, 1}, 2, "mean"), Error);
  EXPECT_THROW(aggregate_examples({1, 2}, 1, {0, 2}, 2, "mean"), Error);  // class 2 of 2
}

// 3 windows x 4 classes; class 3 (a negative) scores highest everywhere but is not eligible.
const std::vector<double> kWindows{0.9, 0.1, 0.5, 2.0,  //
                                   0.2, 0.8, 0.6, 2.0,  //
                                   0.7, 0.3, 0.6, 2.0};
const std::vector<bool> kEligible{true, true, true, false};

TEST(RankClasses, MeanOverWindows) {
  const auto d = rank_classes(kWindows, 3, 4, kEligible, "mean");
  ASSERT_EQ(order(d), (std::vector<std::size_t>{0, 2, 1}));
  EXPECT_DOUBLE_EQ(d[0].score, 1.8 / 3);
  EXPECT_DOUBLE_EQ(d[1].score, 1.7 / 3);
  EXPECT_DOUBLE_EQ(d[2].score, 1.2 / 3);
  EXPECT_EQ(d[0].votes, 2u);
  EXPECT_EQ(d[1].votes, 0u);
  EXPECT_EQ(d[2].votes, 1u);
}

TEST(RankClasses, MaxOverWindows) {
  const auto d = rank_classes(kWindows, 3, 4, kEligible, "max");
  ASSERT_EQ(order(d), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(d[0].score, 0.9);
  EXPECT_EQ(d[1].score, 0.8);
  EXPECT_EQ(d[2].score, 0.6);
}

TEST(RankClasses, VoteRanksByWindowsWonAmongEligibleClasses) {
  // Windows' best eligible classes: 0, 1, 0. Class 2 has the higher mean but no vote.
  const auto d = rank_classes(kWindows, 3, 4, kEligible, "vote");
  ASSERT_EQ(order(d), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(d[0].votes, 2u);
  EXPECT_EQ(d[1].votes, 1u);
  EXPECT_EQ(d[2].votes, 0u);
  EXPECT_DOUBLE_EQ(d[0].score, 1.8 / 3);  // the mean is reported
  EXPECT_DOUBLE_EQ(d[1].score, 1.2 / 3);
  // With every class eligible, class 3 wins every window.
  const auto all = rank_classes(kWindows, 3, 4, {true, true, true, true}, "vote");
  EXPECT_EQ(all[0].cls, 3u);
  EXPECT_EQ(all[0].votes, 3u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].votes, 0u);
}

TEST(RankClasses, VoteTiesGoToTheHigherMean) {
  // Class 0 wins window 0, class 1 window 1: one vote each; class 1's mean
  // (0.5) beats class 0's (0.3). Class 2 has the highest mean (0.7), no vote.
  const std::vector<double> s{0.6, 0.0, 0.5,  //
                              0.0, 1.0, 0.9};
  const auto d = rank_classes(s, 2, 3, {true, true, true}, "vote");
  ASSERT_EQ(order(d), (std::vector<std::size_t>{1, 0, 2}));
  EXPECT_DOUBLE_EQ(d[0].score, 0.5);
  EXPECT_DOUBLE_EQ(d[1].score, 0.3);
  EXPECT_DOUBLE_EQ(d[2].score, 0.7);
}

TEST(RankClasses, NoEligibleClassRanksNothing) {
  EXPECT_TRUE(rank_classes(kWindows, 3, 4, {false, false, false, false}, "mean").empty());
}

TEST(RankClasses, BadInputIsAnError) {
  EXPECT_THROW(rank_classes(kWindows, 3, 4, kEligible, "median"), Error);
  EXPECT_THROW(rank_classes(kWindows, 2, 4, kEligible, "mean"), Error);
  EXPECT_THROW(rank_classes(kWindows, 3, 4, {true, true}, "mean"), Error);
  EXPECT_THROW(rank_classes({}, 0, 4, kEligible, "mean"), Error);
}

}  // namespace
}  // namespace oneshot
