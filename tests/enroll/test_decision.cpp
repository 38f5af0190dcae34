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

TEST(PerClassFar, InvertsTheUnionOfIndependentClasses) {
  // One class: the library's rate is the class's.
  EXPECT_DOUBLE_EQ(per_class_far(0.05, 1), 0.05);
  // n classes at rate f each accept 1 - (1 - f)^n of never-enrolled files.
  for (std::size_t n : {2u, 3u, 10u, 100u}) {
    const double f = per_class_far(0.05, n);
    EXPECT_NEAR(1 - std::pow(1 - f, static_cast<double>(n)), 0.05, 1e-12) << n;
    EXPECT_LT(f, 0.05 / n * 1.05);  // about far / n, a little above it
    EXPECT_GT(f, 0.05 / n);
  }
  EXPECT_EQ(per_class_far(0, 7), 0);
  EXPECT_THROW(per_class_far(1, 3), Error);
  EXPECT_THROW(per_class_far(-0.1, 3), Error);
  // A rate whose per-class share is past the curve's ends is held there, and rate_outside_curve says so.
  const std::vector<FarPoint> curve{{1e-4, 3.0, 0.9}, {0.01, 1.0, 0.5}, {0.5, -1.0, 0.0}};
  EXPECT_EQ(rate_outside_curve(curve, 0.03, 3), "");
  const std::string high = rate_outside_curve(curve, 0.999, 3);
  EXPECT_NE(high.find("a false-accept rate of 0.999 is 0.9 a class over 3 classes, outside the calibration's curve "
                      "(0.0001 to 0.5 a class): the threshold is the curve's end, about 0.875 of the library"),
            std::string::npos)
      << high;
  EXPECT_NE(rate_outside_curve(curve, 1e-9, 1).find("about 0.0001 of the library"), std::string::npos);
  EXPECT_EQ(rate_outside_curve({}, 0.999, 3), "");  // no curve: nothing is held
  EXPECT_THROW(per_class_far(std::nan(""), 3), Error);
  EXPECT_THROW(per_class_far(0.05, 0), Error);
}

TEST(FarCurve, EachPointIsCalibrateThresholdAtItsRate) {
  std::mt19937 rng(5);
  std::normal_distribution<double> same_d(1.0, 1.0), diff_d(-1.0, 1.0);
  std::vector<double> same(300), different(4000);
  for (double& v : same) v = same_d(rng);
  for (double& v : different) v = diff_d(rng);
  const auto grid = default_far_grid();
  ASSERT_GE(grid.size(), 30u);
  EXPECT_NEAR(grid.front(), 1e-4, 1e-18);
  EXPECT_EQ(grid.back(), 0.5);
  for (std::size_t i = 1; i < grid.size(); ++i) EXPECT_GT(grid[i], grid[i - 1]);
  const auto curve = far_curve(same, different, grid);
  ASSERT_EQ(curve.size(), grid.size());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const Calibration c = calibrate_threshold(same, different, grid[i]);
    EXPECT_EQ(curve[i].far, grid[i]);
    EXPECT_EQ(curve[i].threshold, c.threshold);
    EXPECT_EQ(curve[i].frr, c.frr);
    if (i > 0) {  // a higher rate: a threshold no higher, false rejects no more
      EXPECT_LE(curve[i].threshold, curve[i - 1].threshold);
      EXPECT_LE(curve[i].frr, curve[i - 1].frr);
    }
  }
  EXPECT_THROW(far_curve(same, different, {0.1, 0.05}), Error);
}

TEST(FarPointAt, LogLinearBetweenPointsAndClampedOutside) {
  const std::vector<FarPoint> curve{{0.01, 3.0, 0.6}, {0.1, 1.0, 0.2}, {0.5, 0.0, 0.1}};
  // At a grid rate: that point exactly.
  EXPECT_EQ(far_point_at(curve, 0.1).threshold, 1.0);
  EXPECT_EQ(far_point_at(curve, 0.1).frr, 0.2);
  // sqrt(0.01 x 0.1) is halfway in log(f): halfway in threshold and frr.
  const FarPoint mid = far_point_at(curve, std::sqrt(0.01 * 0.1));
  EXPECT_NEAR(mid.threshold, 2.0, 1e-12);
  EXPECT_NEAR(mid.frr, 0.4, 1e-12);
  EXPECT_NEAR(mid.far, std::sqrt(0.01 * 0.1), 1e-15);
  // Outside: the end points (below the grid: the highest threshold).
  EXPECT_EQ(far_point_at(curve, 0.001).threshold, 3.0);
  EXPECT_EQ(far_point_at(curve, 0).threshold, 3.0);
  EXPECT_EQ(far_point_at(curve, 0.9).threshold, 0.0);
  EXPECT_THROW(far_point_at({}, 0.1), Error);
  EXPECT_THROW(far_point_at(curve, -0.1), Error);
  EXPECT_THROW(far_point_at(curve, std::numeric_limits<double>::infinity()), Error);
}

TEST(LibraryThreshold, MoreClassesNeedAHigherThresholdAndAV1CalibrationKeepsItsOwn) {
  Calibration c;
  c.far_curve = {{0.001, 5.0, 0.9}, {0.01, 3.0, 0.6}, {0.1, 1.0, 0.2}, {0.5, 0.0, 0.1}};
  // One class: the curve at the library's rate itself.
  const FarPoint one = library_threshold(c, 0.1, 1);
  EXPECT_EQ(one.threshold, 1.0);
  EXPECT_EQ(one.far, 0.1);
  // Ten classes at a library-wide 0.1: per class 1 - 0.9^(1/10) = 0.01048.
  const FarPoint ten = library_threshold(c, 0.1, 10);
  EXPECT_NEAR(ten.far, 1 - std::pow(0.9, 0.1), 1e-15);
  EXPECT_GT(ten.threshold, one.threshold);
  EXPECT_LT(ten.threshold, 3.0);  // just above the 0.01 point's rate
  EXPECT_GT(ten.frr, one.frr);
  // No curve (a version-1 calibration): the stored per-class threshold.
  Calibration v1;
  v1.far = 0.05;
  v1.threshold = -6.13;
  v1.frr = 0.646;
  for (std::size_t n : {1u, 10u}) {
    const FarPoint p = library_threshold(v1, 0.2, n);
    EXPECT_EQ(p.threshold, -6.13);
    EXPECT_EQ(p.far, 0.05);
    EXPECT_EQ(p.frr, 0.646);
  }
  EXPECT_THROW(library_threshold(c, 1.0, 3), Error);
  EXPECT_THROW(library_threshold(c, 0.1, 0), Error);
}

TEST(ForExamples, TheCurveOfTheLargestSimulatedCountNotAboveTheClasss) {
  Calibration c;
  c.far = 0.1;
  c.threshold = 1.0;
  c.frr = 0.2;
  c.far_curve = {{0.01, 3.0, 0.6}, {0.1, 1.0, 0.2}};
  c.logistic = LogisticCalibration{1, 0};
  ExamplesCalibration two{2, 10, 20, LogisticCalibration{2, 0}, {{0.01, 2.0, 0.4}, {0.1, 0.5, 0.1}}};
  ExamplesCalibration five{5, 6, 30, std::nullopt, {{0.01, 1.5, 0.3}, {0.1, 0.25, 0.05}}};
  c.by_examples = {two, five};
  // One recording (or none): the calibration's own fields.
  for (std::int64_t n : {0, 1}) {
    const Calibration one = for_examples(c, n);
    EXPECT_EQ(one.threshold, 1.0);
    EXPECT_EQ(one.far_curve.size(), 2u);
    EXPECT_EQ(one.far_curve[0].threshold, 3.0);
    EXPECT_EQ(one.logistic->a, 1);
    EXPECT_TRUE(one.by_examples.empty());
  }
  // 2 to 4 recordings: the curve of 2, its threshold at the calibration's rate.
  for (std::int64_t n : {2, 3, 4}) {
    const Calibration k = for_examples(c, n);
    EXPECT_EQ(k.threshold, 0.5) << n;
    EXPECT_EQ(k.frr, 0.1);
    EXPECT_EQ(k.far_curve[0].threshold, 2.0);
    EXPECT_EQ(k.logistic->a, 2);
    EXPECT_EQ(k.same_pairs, 10);
    EXPECT_EQ(library_threshold(k, 0.01, 1).threshold, 2.0);
  }
  // 5 or more: the curve of 5 (its confidence: none stored for it).
  const Calibration many = for_examples(c, 40);
  EXPECT_EQ(many.threshold, 0.25);
  EXPECT_FALSE(many.logistic);
  EXPECT_EQ(many.different_pairs, 30);
}

}  // namespace
}  // namespace oneshot
