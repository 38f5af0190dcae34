// The model-free verification metrics (eval/verification.h) against
// hand-computed values, brute-force references and degenerate cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "eval/verification.h"

namespace oneshot {
namespace {

// P(target > non-target) + P(tie) / 2 over every pair, O(P N).
double brute_auroc(const std::vector<double>& t, const std::vector<double>& n) {
  double sum = 0;
  for (double a : t)
    for (double b : n) sum += a > b ? 1.0 : a == b ? 0.5 : 0.0;
  return sum / (static_cast<double>(t.size()) * static_cast<double>(n.size()));
}

// The smallest max(FAR, FRR) of any random choice between two thresholds
// (every pair of operating points, the best mixing weight), computed without
// a hull: what the ROCCH-EER promises to be.
double brute_eer(const std::vector<double>& t, const std::vector<double>& n) {
  std::vector<std::pair<double, double>> pts;  // (far, frr) at every threshold
  std::vector<double> thresholds{-std::numeric_limits<double>::infinity()};
  thresholds.insert(thresholds.end(), t.begin(), t.end());
  thresholds.insert(thresholds.end(), n.begin(), n.end());
  for (double th : thresholds) {
    double fa = 0, fr = 0;
    for (double s : n) fa += s > th;
    for (double s : t) fr += s <= th;
    pts.emplace_back(fa / n.size(), fr / t.size());
  }
  double best = 1;
  for (const auto& a : pts)
    for (const auto& b : pts) {
      best = std::min({best, std::max(a.first, a.second), std::max(b.first, b.second)});
      // Where the two rates are equal along the segment, if they cross on it.
      const double d0 = a.second - a.first, d1 = b.second - b.first;
      if ((d0 > 0 && d1 < 0) || (d0 < 0 && d1 > 0)) {
        const double lambda = d0 / (d0 - d1);
        best = std::min(best, a.first + lambda * (b.first - a.first));
      }
    }
  return best;
}

TEST(Verification, OperatingPointsOfFourScores) {
  // targets {3, 1}, non-targets {2, 0}: accept when score > threshold.
  const auto points = operating_points({3, 1}, {2, 0});
  ASSERT_EQ(points.size(), 5u);
  const double expected[5][3] = {{-INFINITY, 1, 0}, {0, 0.5, 0}, {1, 0.5, 0.5}, {2, 0, 0.5}, {3, 0, 1}};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(points[i].threshold, expected[i][0]) << i;
    EXPECT_DOUBLE_EQ(points[i].far, expected[i][1]) << i;
    EXPECT_DOUBLE_EQ(points[i].frr, expected[i][2]) << i;
  }
}

TEST(Verification, EerInterpolatesOnTheConvexHull) {
  // Hull of (FAR, FRR): (0, 1/2), (1/2, 0), (1, 0); the diagonal crosses the
  // first segment at 1/4, below the best single threshold's max(FAR, FRR) = 1/2.
  EXPECT_DOUBLE_EQ(equal_error_rate({3, 1}, {2, 0}), 0.25);
  EXPECT_DOUBLE_EQ(auroc({3, 1}, {2, 0}), 0.75);
}

TEST(Verification, TiesMoveBothRatesAtOnce) {
  // targets {1, 2, 2}, non-targets {0, 2, 3}. Operating points (FAR, FRR):
  // (1, 0), (2/3, 0), (2/3, 1/3), (1/3, 1) [the tie at 2], (0, 1).
  // Lower hull: (0, 1), (2/3, 0), (1, 0); FRR = 1 - 1.5 FAR meets FAR at 0.4.
  const std::vector<double> t{1, 2, 2}, n{0, 2, 3};
  EXPECT_NEAR(equal_error_rate(t, n), 0.4, 1e-12);
  // Pairs: 1 beats 0; each 2 beats 0 and ties 2: (1 + 2 * 1.5) / 9.
  EXPECT_NEAR(auroc(t, n), 4.0 / 9.0, 1e-12);
  const auto points = operating_points(t, n);
  ASSERT_EQ(points.size(), 5u);
  EXPECT_NEAR(points[3].far, 1.0 / 3, 1e-12);
  EXPECT_NEAR(points[3].frr, 1.0, 1e-12);
  // FAR 0.34: floor(0.34 * 3) = 1 -> threshold d[1] = 2; only 3 > 2 is accepted.
  auto r = frr_at_far(t, n, 0.34);
  EXPECT_EQ(r.threshold, 2);
  EXPECT_NEAR(r.far, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.frr, 1.0, 1e-12);
  r = frr_at_far(t, n, 0.67);  // floor(2.01) = 2 -> threshold 0
  EXPECT_EQ(r.threshold, 0);
  EXPECT_NEAR(r.far, 2.0 / 3, 1e-12);
  EXPECT_EQ(r.frr, 0);
}

TEST(Verification, FrrAtFivePercentFarFollowsTheCalibrationRule) {
  std::vector<double> n;
  for (int i = 1; i <= 40; ++i) n.push_back(i);
  // floor(0.05 * 40) = 2: threshold is the third highest, 38; 39 and 40 are accepted.
  const auto r = frr_at_far({38, 38.5, 39, 50}, n);
  EXPECT_EQ(r.target_far, 0.05);
  EXPECT_EQ(r.threshold, 38);
  EXPECT_DOUBLE_EQ(r.far, 0.05);
  EXPECT_DOUBLE_EQ(r.frr, 0.25);  // 38 <= 38
  // Ties at the threshold accept fewer: 20 scores, three at the top tied.
  std::vector<double> tied{5, 5, 5};
  tied.resize(20, 1.0);
  const auto t = frr_at_far({4, 6}, tied);
  EXPECT_EQ(t.threshold, 5);
  EXPECT_EQ(t.far, 0);
  EXPECT_DOUBLE_EQ(t.frr, 0.5);
  // Fewer than 20 non-targets: floor(0.05 n) = 0, the highest one is the threshold.
  EXPECT_EQ(threshold_at_far({0.3, 0.9, 0.1}, 0.05), 0.9);
  EXPECT_EQ(threshold_at_far({0.3, 0.9, 0.1}, 0.0), 0.9);
}

TEST(Verification, DegenerateCases) {
  // Every score equal: no information.
  EXPECT_DOUBLE_EQ(equal_error_rate({1, 1}, {1, 1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(auroc({1, 1}, {1, 1, 1}), 0.5);
  const auto flat = frr_at_far({1, 1}, {1, 1, 1});
  EXPECT_EQ(flat.far, 0);
  EXPECT_EQ(flat.frr, 1);
  // Perfect separation.
  EXPECT_EQ(equal_error_rate({2, 3}, {0, 1}), 0);
  EXPECT_EQ(auroc({2, 3}, {0, 1}), 1);
  EXPECT_EQ(frr_at_far({2, 3}, {0, 1}).frr, 0);
  // Perfectly reversed: AUROC 0; the hull's EER never exceeds 1/2 (a coin).
  EXPECT_EQ(auroc({0, 1}, {2, 3}), 0);
  EXPECT_DOUBLE_EQ(equal_error_rate({0, 1}, {2, 3}), 0.5);
  // One target, one non-target.
  EXPECT_EQ(equal_error_rate({1}, {0}), 0);
  EXPECT_DOUBLE_EQ(equal_error_rate({0}, {0}), 0.5);
}

TEST(Verification, EmptyOrNanInputIsAnError) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(equal_error_rate({}, {1}), Error);
  EXPECT_THROW(auroc({1}, {}), Error);
  EXPECT_THROW(frr_at_far({1}, {}), Error);
  EXPECT_THROW(equal_error_rate({nan}, {1}), Error);
  EXPECT_THROW(threshold_at_far({1}, 1.0), Error);
  EXPECT_THROW(threshold_at_far({1}, -0.1), Error);
  EXPECT_THROW(score_histogram({1}, {2}, 0), Error);
}

TEST(Verification, AurocAndEerMatchBruteForceOnTiedRandomScores) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    std::uniform_int_distribution<int> size(1, 30), level(0, 12);
    std::vector<double> t(static_cast<std::size_t>(size(rng))), n(static_cast<std::size_t>(size(rng)));
    // Targets drawn a little higher; integer levels make many ties.
    for (double& s : t) s = level(rng) + (trial % 3);
    for (double& s : n) s = level(rng);
    EXPECT_NEAR(auroc(t, n), brute_auroc(t, n), 1e-12) << "trial " << trial;
    EXPECT_NEAR(equal_error_rate(t, n), brute_eer(t, n), 1e-12) << "trial " << trial;
  }
}

TEST(Verification, StreamedThresholdEqualsTheSortedOne) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (int size : {1, 7, 19, 20, 21, 1000})
    for (double far : {0.0, 0.05, 0.5, 0.99}) {
      std::vector<double> n(static_cast<std::size_t>(size));
      for (double& s : n) s = std::round(normal(rng) * 4) / 4;  // ties too
      FarThresholdTracker tracker(far, size);
      for (double s : n) tracker.add(s);
      EXPECT_EQ(tracker.threshold(), threshold_at_far(n, far)) << size << " scores, far " << far;
    }
  FarThresholdTracker tracker(0.05, 2);
  tracker.add(1);
  EXPECT_THROW(tracker.threshold(), Error);  // one of the two announced scores
  tracker.add(2);
  EXPECT_THROW(tracker.add(3), Error);
}

TEST(Verification, HistogramOnCommonBins) {
  const auto h = score_histogram({0, 1, 2}, {0.5, 2, 4}, 4);
  EXPECT_EQ(h.edges, (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(h.target, (std::vector<std::int64_t>{1, 1, 1, 0}));
  EXPECT_EQ(h.nontarget, (std::vector<std::int64_t>{1, 0, 1, 1}));  // the top score in the closed last bin
  const auto flat = score_histogram({3}, {3, 3}, 1);
  EXPECT_EQ(flat.edges, (std::vector<double>{2.5, 3.5}));
  EXPECT_EQ(flat.target, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(flat.nontarget, (std::vector<std::int64_t>{2}));
}

TEST(Verification, ThinnedCurveKeepsEndsAndSteps) {
  std::vector<OperatingPoint> points;
  for (int i = 0; i <= 1000; ++i) points.push_back({static_cast<double>(i), 1.0 - i / 1000.0, i / 1000.0});
  const auto thin = thin_curve(points, 0.0095);
  EXPECT_EQ(thin.front().threshold, 0);
  EXPECT_EQ(thin.back().threshold, 1000);
  EXPECT_EQ(thin.size(), 101u);  // every 10th point, and the last
  for (std::size_t i = 1; i + 1 < thin.size(); ++i)
    EXPECT_GE(std::abs(thin[i].far - thin[i - 1].far), 0.0095);
}

TEST(Verification, ProbitInvertsTheNormalCdf) {
  EXPECT_NEAR(probit(0.5), 0.0, 1e-15);
  EXPECT_NEAR(probit(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(probit(0.05), -1.6448536269514722, 1e-12);
  EXPECT_NEAR(probit(0.001), -3.090232306167813, 1e-11);
  EXPECT_NEAR(probit(1e-6), -4.753424308822899, 1e-9);
  for (double p : {1e-9, 0.01, 0.02425, 0.2, 0.7, 0.97575, 0.999})
    EXPECT_NEAR(0.5 * std::erfc(-probit(p) / std::sqrt(2.0)), p, 1e-12 * std::max(p, 1e-3)) << p;
  EXPECT_EQ(probit(0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(probit(1), std::numeric_limits<double>::infinity());
}

TEST(Verification, MetricsSummaryAndPairSplit) {
  // 4 clips: classes 0, 0, 1, 1; matrix row-major, symmetric.
  const std::vector<double> scores{0, 3, 2, 0,  //
                                   3, 0, 1, 2,  //
                                   2, 1, 0, 1,  //
                                   0, 2, 1, 0};
  std::vector<double> t, n;
  split_pair_scores(scores, {0, 0, 1, 1}, t, n);
  EXPECT_EQ(t, (std::vector<double>{3, 1}));       // (0,1), (2,3)
  EXPECT_EQ(n, (std::vector<double>{2, 0, 1, 2}));  // (0,2), (0,3), (1,2), (1,3)
  const auto m = verification_metrics(t, n, 0.05, 10);
  EXPECT_EQ(m.target_pairs, 2);
  EXPECT_EQ(m.nontarget_pairs, 4);
  EXPECT_DOUBLE_EQ(m.target_mean, 2.0);
  EXPECT_DOUBLE_EQ(m.nontarget_mean, 1.25);
  EXPECT_NEAR(m.auroc, brute_auroc(t, n), 1e-12);
  EXPECT_NEAR(m.eer, brute_eer(t, n), 1e-12);
  EXPECT_EQ(m.histogram.edges.size(), 11u);
  EXPECT_THROW(split_pair_scores({1, 2, 3}, {0, 1}, t, n), Error);
}

// Two classes of three clips; clip 2 (class A) scores 4 against every B clip,
// 3 within a class, 0 otherwise. Both classes are enrolled in every draw.
// A's enrolment is clip 2 with probability 1/3: A's queries right, B's two
// queries go to A (4 > 3): top-1 2/4. Otherwise the other A clip is right,
// clip 2 goes to B, B's queries are right: top-1 3/4. Mean 2/3.
TEST(EnrolOneClip, MeanOverDrawsOfAHandComputedTask) {
  std::vector<double> s(36, 0.0);
  const std::vector<int> labels{0, 0, 0, 1, 1, 1};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      if (i == j) continue;
      if (labels[i] == labels[j]) s[i * 6 + j] = 3;
      if ((i == 2 && labels[j] == 1) || (j == 2 && labels[i] == 1)) s[i * 6 + j] = 4;
    }
  EnrolmentOptions options;
  options.draws = 20000;
  options.seed = 3;
  options.threshold = 2.5;
  const auto r = enrol_one_clip(s, labels, options);
  EXPECT_EQ(r.classes, 2);
  EXPECT_EQ(r.enrolled_classes, 2);  // half of 2, at least 2
  EXPECT_NEAR(r.top1, 2.0 / 3.0, 0.005);
  EXPECT_NEAR(r.top1_std, 0.25 * std::sqrt(2.0 / 9.0), 0.005);  // draws are 1/2 or 3/4
  EXPECT_DOUBLE_EQ(r.accepted, r.top1);  // every right answer scores 3 > 2.5
  EXPECT_TRUE(std::isnan(r.rejected));   // no class left unenrolled
  EXPECT_EQ(r.enrolled_queries, 4 * 20000);
  EXPECT_EQ(r.unknown_queries, 0);
  options.threshold = 3;  // 3 is not > 3: nothing accepted
  EXPECT_EQ(enrol_one_clip(s, labels, options).accepted, 0);
  // Seeded: the same seed repeats the draws, another seed differs.
  options.draws = 50;
  EXPECT_EQ(enrol_one_clip(s, labels, options).top1, enrol_one_clip(s, labels, options).top1);
}

TEST(EnrolOneClip, UnknownClipsAreRejectedBelowTheThreshold) {
  // Four classes of two clips: same class 5, different 1. Half (2) enrolled.
  const std::vector<int> labels{0, 0, 1, 1, 2, 2, 3, 3};
  std::vector<double> s(64);
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) s[i * 8 + j] = labels[i] == labels[j] ? 5 : 1;
  EnrolmentOptions options;
  options.draws = 30;
  options.threshold = 2;
  auto r = enrol_one_clip(s, labels, options);
  EXPECT_EQ(r.enrolled_classes, 2);
  EXPECT_EQ(r.top1, 1);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.rejected, 1);
  EXPECT_EQ(r.enrolled_queries, 2 * 30);  // the other clip of each enrolled class
  EXPECT_EQ(r.unknown_queries, 4 * 30);
  options.threshold = 0.5;  // unknown clips' best score 1 > 0.5: accepted, not rejected
  r = enrol_one_clip(s, labels, options);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.rejected, 0);
  options.enrolled_classes = 3;
  r = enrol_one_clip(s, labels, options);
  EXPECT_EQ(r.enrolled_queries, 3 * 30);
  EXPECT_EQ(r.unknown_queries, 2 * 30);
}

TEST(EnrolOneClip, BadInputIsAnError) {
  EnrolmentOptions options;
  EXPECT_THROW(enrol_one_clip({1, 2, 3}, {0, 1}, options), Error);        // 3 values for a 2 x 2 matrix
  EXPECT_THROW(enrol_one_clip({0, 1, 1, 0}, {0, 0}, options), Error);     // one class
  options.enrolled_classes = 3;
  EXPECT_THROW(enrol_one_clip({0, 1, 1, 0}, {0, 1}, options), Error);     // 3 of 2 classes
  options.enrolled_classes = 0;
  options.draws = 0;
  EXPECT_THROW(enrol_one_clip({0, 1, 1, 0}, {0, 1}, options), Error);
}

}  // namespace
}  // namespace oneshot
