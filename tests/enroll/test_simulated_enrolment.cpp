// Calibration on simulated enrolments: file scores from a hand-made window x
// enrolment table, the threshold on FILE scores, and (with a synthetic
// embedding model and the same AS-norm arithmetic LibraryScorer uses) the
// false-accept rate on held-out simulated enrolments within a stated
// tolerance of --far.
#include <gtest/gtest.h>


#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"
#include "enroll/simulated_enrolment.h"

namespace oneshot {
namespace {

// Clips 0, 1 of class A, clip 2 of class B. Windows: clip 0 has 1 window, clip
// 1 has 2, clip 2 has 1. Rows: window; columns: enrolment of clip 0, 1, 2.
const std::vector<double> kTable{
    9, 5, 1,   // clip 0's window (its own column 0 never used)
    4, 9, 2,   // clip 1, window a
    6, 9, -2,  // clip 1, window b
    0, 3, 9,   // clip 2's window
};
const std::vector<std::size_t> kWindowClip{0, 1, 1, 2};
const std::vector<int> kLabels{0, 0, 1};

TEST(SimulatedEnrolment, FileScoresAggregateEachQueryClipsWindows) {
  const SimulatedScores mean = simulated_file_scores(kTable, kWindowClip, kLabels, "mean");
  // Query 0: vs 1 -> 5 (target), vs 2 -> 1 (non-target). Query 1 (mean of its
  // 2 windows): vs 0 -> (4 + 6) / 2 = 5 (target), vs 2 -> (2 - 2) / 2 = 0.
  // Query 2: vs 0 -> 0, vs 1 -> 3 (both non-targets).
  EXPECT_EQ(mean.targets, (std::vector<double>{5, 5}));
  EXPECT_EQ(mean.non_targets, (std::vector<double>{1, 0, 0, 3}));
  // Windows against another class's enrolment: 1; 2, -2; 0, 3.
  auto w = mean.non_target_windows;
  std::sort(w.begin(), w.end());
  EXPECT_EQ(w, (std::vector<double>{-2, 0, 1, 2, 3}));

  const SimulatedScores max = simulated_file_scores(kTable, kWindowClip, kLabels, "max");
  EXPECT_EQ(max.targets, (std::vector<double>{5, 6}));
  EXPECT_EQ(max.non_targets, (std::vector<double>{1, 2, 0, 3}));
  // vote reports the mean score, as rank_classes does.
  EXPECT_EQ(simulated_file_scores(kTable, kWindowClip, kLabels, "vote").targets, mean.targets);

  EXPECT_THROW(simulated_file_scores(kTable, kWindowClip, kLabels, "median"), Error);
  EXPECT_THROW(simulated_file_scores({1, 2}, kWindowClip, kLabels, "mean"), Error);
  EXPECT_THROW(simulated_file_scores(kTable, {0, 1, 1, 7}, kLabels, "mean"), Error);
}

TEST(SimulatedEnrolment, CalibrationIsOnFileScores) {
  const SimulatedScores s = simulated_file_scores(kTable, kWindowClip, kLabels, "mean");
  // Non-target file scores 3, 1, 0, 0: far 0.25 -> floor(1) -> t = 1 (only 3 above);
  // targets 5, 5 above it: frr 0. Floor: median non-target window (sorted descending 3 2 1 0 -2 -> 1).
  const Calibration c = calibrate_simulated(s, 0.25, true);
  EXPECT_EQ(c.threshold, 1);
  EXPECT_EQ(c.frr, 0);
  EXPECT_EQ(c.floor, 1);
  EXPECT_EQ(c.method, "simulated");
  EXPECT_TRUE(c.normalised);
  EXPECT_EQ(c.same_pairs, 2);
  EXPECT_EQ(c.different_pairs, 4);
  ASSERT_TRUE(c.logistic);
  EXPECT_GT(c.logistic->confidence(5), c.logistic->confidence(1));
  EXPECT_THROW(calibrate_simulated({{}, {1.0}, {}}, 0.1, false), Error);
  EXPECT_THROW(calibrate_simulated({{1.0}, {}, {}}, 0.1, false), Error);
}

TEST(SimulatedEnrolment, EnrolmentsOfSeveralClipsLeaveTheirOwnClipsOut) {
  // Clips 0, 1, 2 of class A, clip 3 of class B; one window each. Columns:
  // enrolment {0, 1} (A), enrolment {3} (B).
  const std::vector<double> table{
      9, 1,  // clip 0: in {0, 1}
      9, 2,  // clip 1: in {0, 1}
      4, 0,  // clip 2
      3, 9,  // clip 3: in {3}
  };
  const std::vector<std::vector<std::size_t>> enrolments{{0, 1}, {3}};
  const SimulatedScores s = simulated_file_scores(table, {0, 1, 2, 3}, {0, 0, 0, 1}, enrolments, "mean");
  EXPECT_EQ(s.targets, (std::vector<double>{4}));            // clip 2 against {0, 1}
  EXPECT_EQ(s.non_targets, (std::vector<double>{1, 2, 0, 3}));  // clips 0-2 against {3}, clip 3 against {0, 1}
  EXPECT_THROW(simulated_file_scores(table, {0, 1, 2, 3}, {0, 0, 0, 1}, {{0, 3}, {3}}, "mean"), Error);  // mixed
  EXPECT_THROW(simulated_file_scores(table, {0, 1, 2, 3}, {0, 0, 0, 1}, {{}, {3}}, "mean"), Error);
  EXPECT_THROW(simulated_file_scores(table, {0, 1, 2, 3}, {0, 0, 0, 1}, {{0, 9}, {3}}, "mean"), Error);
  EXPECT_THROW(simulated_file_scores(table, {0, 1, 2, 3}, {0, 0, 0, 1}, {{0}}, "mean"), Error);  // sizes
}

TEST(SimulatedEnrolment, EnrolmentScoresAggregateAsTheLibraryAggregatesAClasssExamples) {
  // Two rows against three clips; clip 0 was enrolled with 1 view, clip 1 with 3, clip 2 with 2.
  const std::vector<double> per_clip{
      1, 5, 2,
      4, 0, -2,
  };
  const std::vector<std::size_t> views{1, 3, 2};
  const std::vector<std::vector<std::size_t>> enrolments{{0, 1}, {2}, {2, 0, 1}};
  // "mean" over the enrolment's examples: {0, 1}: (1 + 3 x 5) / 4 = 4, (4 + 0) / 4 = 1;
  // {2, 0, 1}: (2 x 2 + 1 + 15) / 6 = 20 / 6, (-4 + 4 + 0) / 6 = 0.
  const auto mean = enrolment_scores(per_clip, 2, views, enrolments, "mean");
  ASSERT_EQ(mean.size(), 6u);
  EXPECT_DOUBLE_EQ(mean[0], 4);
  EXPECT_DOUBLE_EQ(mean[1], 2);
  EXPECT_DOUBLE_EQ(mean[2], 20.0 / 6);
  EXPECT_DOUBLE_EQ(mean[3], 1);
  EXPECT_DOUBLE_EQ(mean[4], -2);
  EXPECT_DOUBLE_EQ(mean[5], 0);
  EXPECT_EQ(enrolment_scores(per_clip, 2, views, enrolments, "max"), (std::vector<double>{5, 2, 5, 4, -2, 4}));
  EXPECT_THROW(enrolment_scores(per_clip, 2, views, enrolments, "prototype"), Error);
  EXPECT_THROW(enrolment_scores(per_clip, 3, views, enrolments, "mean"), Error);
  EXPECT_THROW(enrolment_scores(per_clip, 2, views, {{0, 3}}, "mean"), Error);
  EXPECT_THROW(enrolment_scores(per_clip, 2, views, {{}}, "mean"), Error);
}

TEST(SimulatedEnrolment, EnrolmentSetsDrawKClipsOfOneClassEachClipFirstOnce) {
  // Class 7: clips 0, 2, 3, 5 (4 clips); class 1: clips 1, 4 (2); class 9: clip 6.
  const std::vector<int> labels{7, 1, 7, 7, 1, 7, 9};
  const auto alone = enrolment_sets(labels, 1, 5);
  ASSERT_EQ(alone.size(), labels.size());
  for (std::size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(alone[i], (std::vector<std::size_t>{i}));
  for (std::size_t k : {2u, 3u}) {
    SCOPED_TRACE("k " + std::to_string(k));
    const auto sets = enrolment_sets(labels, k, 5);
    // k + 1 clips needed: class 7 always, class 1 for k = 1 only (2 clips), class 9 never.
    ASSERT_EQ(sets.size(), 4u);
    std::vector<std::size_t> firsts;
    for (const auto& set : sets) {
      ASSERT_EQ(set.size(), k);
      firsts.push_back(set.front());
      std::vector<std::size_t> sorted = set;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());  // no clip twice
      for (std::size_t i : set) EXPECT_EQ(labels[i], 7);
    }
    EXPECT_EQ(firsts, (std::vector<std::size_t>{0, 2, 3, 5}));
    EXPECT_EQ(enrolment_sets(labels, k, 5), sets);  // seeded
  }
  EXPECT_TRUE(enrolment_sets(labels, 4, 5).empty());
  EXPECT_THROW(enrolment_sets(labels, 0, 5), Error);
  // Another seed draws other companions somewhere.
  bool differs = false;
  for (std::uint64_t seed = 6; seed < 16 && !differs; ++seed) differs = enrolment_sets(labels, 2, seed) != enrolment_sets(labels, 2, 5);
  EXPECT_TRUE(differs);
}

// A synthetic embedding model: each class a random centre in D dimensions,
// each clip its class centre plus clip noise, each window its clip plus window
// noise; the score is minus the squared distance (the default "distance" head
// with l2). Classes differ in spread (some tight, some loose), the case that
// AS-norm is for.
struct Synthetic {
  static constexpr int D = 12;
  std::mt19937 rng;
  explicit Synthetic(unsigned seed) : rng(seed) {}

  struct Clip {
    int label;
    std::vector<std::vector<double>> windows;
  };

  std::vector<double> point(const std::vector<double>& centre, double sd) {
    std::normal_distribution<double> n(0, sd);
    std::vector<double> p(centre);
    for (double& v : p) v += n(rng);
    return p;
  }
  std::vector<Clip> classes(int n_classes, int clips, int first_label) {
    std::vector<Clip> out;
    std::uniform_real_distribution<double> spread(0.4, 1.2);
    for (int c = 0; c < n_classes; ++c) {
      const auto centre = point(std::vector<double>(D, 0.0), 1.6);
      const double sd = spread(rng);
      for (int k = 0; k < clips; ++k) {
        const auto clip = point(centre, sd);
        Clip x{first_label + c, {}};
        const int windows = 1 + k % 3;
        for (int w = 0; w < windows; ++w) x.windows.push_back(point(clip, 0.3));
        out.push_back(std::move(x));
      }
    }
    return out;
  }
};

double score(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return -d;
}

// Simulated enrolments of `clips` as inference/calibration.cpp makes them:
// each clip enrolled with all its windows (mean over examples), each window of
// every clip scored against every enrolment, AS-norm against the cohort.
// With k > 1, enrolments of k clips of a class (enrolment_sets, seed 1),
// their scores the mean over all their examples (enrolment_scores).
SimulatedScores simulate(const std::vector<Synthetic::Clip>& clips, const std::vector<std::vector<double>>& cohort,
                         std::size_t top_k, std::vector<double>* file_table = nullptr, std::size_t k = 1) {
  const std::size_t n = clips.size(), m = cohort.size();
  std::vector<std::vector<double>> windows;
  std::vector<std::size_t> window_clip, example_clip;
  std::vector<int> labels;
  for (std::size_t i = 0; i < n; ++i) {
    labels.push_back(clips[i].label);
    for (const auto& w : clips[i].windows) {
      windows.push_back(w);
      window_clip.push_back(i);
      example_clip.push_back(i);
    }
  }
  const std::size_t nw = windows.size();
  std::vector<double> raw(nw * nw), cohort_raw(m * nw), window_cohort(nw * m);
  for (std::size_t q = 0; q < nw; ++q)
    for (std::size_t e = 0; e < nw; ++e) raw[q * nw + e] = score(windows[q], windows[e]);
  for (std::size_t k = 0; k < m; ++k)
    for (std::size_t e = 0; e < nw; ++e) {
      cohort_raw[k * nw + e] = score(cohort[k], windows[e]);
      window_cohort[e * m + k] = score(windows[e], cohort[k]);
    }
  std::vector<double> table = aggregate_examples(raw, nw, example_clip, n, "mean");
  std::vector<double> cohort_class = aggregate_examples(cohort_raw, m, example_clip, n, "mean");
  const auto enrolments = enrolment_sets(labels, k, 1);
  if (k > 1) {
    std::vector<std::size_t> views(n);
    for (std::size_t i = 0; i < n; ++i) views[i] = clips[i].windows.size();
    table = enrolment_scores(table, nw, views, enrolments, "mean");
    cohort_class = enrolment_scores(cohort_class, m, views, enrolments, "mean");
  }
  as_norm_table(table, nw, top_k_stats_columns(cohort_class, m, enrolments.size(), top_k),
                top_k_stats_rows(window_cohort, nw, m, top_k));
  if (file_table) {  // file x enrolment: the mean over the file's windows
    file_table->assign(n * n, 0.0);
    std::vector<double> count(n, 0.0);
    for (std::size_t q = 0; q < nw; ++q) {
      count[window_clip[q]] += 1;
      for (std::size_t e = 0; e < n; ++e) (*file_table)[window_clip[q] * n + e] += table[q * n + e];
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t e = 0; e < n; ++e) (*file_table)[i * n + e] /= count[i];
  }
  return simulated_file_scores(table, window_clip, labels, enrolments, "mean");
}

// 40 calibration and 40 held-out synthetic classes of 6 clips each, a cohort
// of 30 others; simulated enrolments of both sets (and the held-out set's
// file x enrolment table).
struct CalibrationAndHeldOut {
  explicit CalibrationAndHeldOut(unsigned seed) {
    Synthetic gen(seed);
    std::vector<std::vector<double>> cohort;
    for (const auto& c : gen.classes(30, 6, 100)) cohort.push_back(c.windows[0]);
    const auto calibration_clips = gen.classes(40, 6, 0);
    held_out_clips = gen.classes(40, 6, 40);
    calibration = simulate(calibration_clips, cohort, 50);
    held_out = simulate(held_out_clips, cohort, 50, &held_out_files);
  }
  std::vector<Synthetic::Clip> held_out_clips;
  SimulatedScores calibration, held_out;
  std::vector<double> held_out_files;
};

TEST(SimulatedEnrolment, HeldOutFalseAcceptRateIsWithinToleranceOfFar) {
  // Tolerance: |held-out FAR - far| <= 0.35 far + 0.01. Calibration and
  // held-out sets have 40 classes x 6 clips each (56,160 non-target files):
  // the binomial spread is below 0.002; the rest is which classes happen to
  // lie close together. Over seeds 1-8 the held-out FAR ran 0.034-0.063 at
  // far 0.05 and 0.160-0.235 at 0.2. With 10 calibration classes it ran
  // 0.022-0.076 at 0.05: few validation classes calibrate loosely.
  const CalibrationAndHeldOut data(1);
  const SimulatedScores& cal = data.calibration;
  const SimulatedScores& held = data.held_out;
  for (double far : {0.05, 0.1, 0.2}) {
    SCOPED_TRACE("far " + std::to_string(far));
    const Calibration c = calibrate_simulated(cal, far, true);
    const double accepted =
        static_cast<double>(std::count_if(held.non_targets.begin(), held.non_targets.end(),
                                          [&](double s) { return s > c.threshold; })) /
        static_cast<double>(held.non_targets.size());
    EXPECT_NEAR(accepted, far, 0.35 * far + 0.01);
    // And most same-class files are accepted (the synthetic classes are well apart).
    const double rejected =
        static_cast<double>(std::count_if(held.targets.begin(), held.targets.end(),
                                          [&](double s) { return s <= c.threshold; })) /
        static_cast<double>(held.targets.size());
    EXPECT_LT(rejected, 0.5);
  }
}

TEST(SimulatedEnrolment, ALibraryOfSeveralClassesAcceptsAboutItsLibraryWideRate) {
  // enroll --far is the rate at which files of never-enrolled sounds are
  // accepted as ANY of the library's n classes: the threshold is the curve's
  // at per_class_far(far, n). Held out: libraries of n clips of n distinct
  // classes (random, seeded), every clip of the other classes scored against
  // each; accepted when its best score is above the threshold. The per-class
  // threshold at `far` itself would accept about 1 - (1 - far)^n.
  const CalibrationAndHeldOut data(2);
  const auto& held_out_clips = data.held_out_clips;
  const std::vector<double>& files = data.held_out_files;
  const std::size_t n = held_out_clips.size();
  const Calibration c = calibrate_simulated(data.calibration, 0.05, true);
  ASSERT_FALSE(c.far_curve.empty());
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  for (std::size_t classes : {1u, 3u, 10u}) {
    SCOPED_TRACE(std::to_string(classes) + " classes");
    const double far = 0.05;
    const double library = library_threshold(c, far, classes).threshold;
    const double per_class = library_threshold(c, far, 1).threshold;
    std::size_t trials = 0, accepted = 0, accepted_per_class = 0;
    for (int draw = 0; draw < 400; ++draw) {
      std::vector<std::size_t> enrolled;
      std::vector<int> labels;
      while (enrolled.size() < classes) {
        const std::size_t e = pick(rng);
        if (std::find(labels.begin(), labels.end(), held_out_clips[e].label) != labels.end()) continue;
        enrolled.push_back(e);
        labels.push_back(held_out_clips[e].label);
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (std::find(labels.begin(), labels.end(), held_out_clips[i].label) != labels.end()) continue;
        double best = -std::numeric_limits<double>::infinity();
        for (std::size_t e : enrolled) best = std::max(best, files[i * n + e]);
        ++trials;
        accepted += best > library;
        accepted_per_class += best > per_class;
      }
    }
    const double rate = static_cast<double>(accepted) / static_cast<double>(trials);
    const double rate_per_class = static_cast<double>(accepted_per_class) / static_cast<double>(trials);
    EXPECT_NEAR(rate, far, 0.35 * far + 0.01) << "per-class threshold: " << rate_per_class;
    if (classes >= 3) EXPECT_GT(rate_per_class, 2 * far);  // what the per-class threshold would have done
  }
}

TEST(SimulatedEnrolment, ClassesOfSeveralRecordingsKeepTheRateOnTheirOwnCurve) {
  // A class enrolled from 3 clips scores every file as a mean over more
  // examples: strangers' scores spread less, so the one-recording threshold
  // accepts fewer of them than its rate (and fewer of the class's own files
  // than it could). The curve simulated with 3-clip enrolments of the
  // calibration classes keeps held-out 3-clip enrolments at the rate, within
  // the tolerance of the one-clip test above, and accepts more targets.
  Synthetic gen(4);
  std::vector<std::vector<double>> cohort;
  for (const auto& c : gen.classes(30, 6, 100)) cohort.push_back(c.windows[0]);
  const auto calibration_clips = gen.classes(40, 6, 0);
  const auto held_out_clips = gen.classes(40, 6, 40);
  const Calibration one = calibrate_simulated(simulate(calibration_clips, cohort, 50), 0.05, true);
  const auto three = calibrate_examples(simulate(calibration_clips, cohort, 50, nullptr, 3), 3);
  ASSERT_TRUE(three);
  EXPECT_EQ(three->examples, 3);
  EXPECT_EQ(three->targets, 40 * 6 * 3);  // each of 6 enrolments a class against its 3 other clips
  Calibration with_curve = one;
  with_curve.by_examples = {*three};
  const Calibration for_three = for_examples(with_curve, 3);
  const SimulatedScores held = simulate(held_out_clips, cohort, 50, nullptr, 3);
  const auto rate = [](const std::vector<double>& scores, double threshold) {
    return static_cast<double>(std::count_if(scores.begin(), scores.end(), [&](double s) { return s > threshold; })) /
           static_cast<double>(scores.size());
  };
  const double far = 0.05;
  EXPECT_NEAR(rate(held.non_targets, for_three.threshold), far, 0.35 * far + 0.01);
  // The one-recording threshold accepts fewer strangers than its rate (here
  // 0.041 at 0.05, where the own curve's gives 0.049; on real runs the gap is
  // wider, README), and fewer of the class's own files.
  const double own = rate(held.non_targets, for_three.threshold), one_curve = rate(held.non_targets, one.threshold);
  EXPECT_LT(std::abs(own - far), std::abs(one_curve - far)) << own << " " << one_curve;
  EXPECT_LT(one_curve, own);
  EXPECT_GT(rate(held.targets, for_three.threshold), rate(held.targets, one.threshold));
  EXPECT_LT(for_three.threshold, one.threshold);
  // No class with 7 clips: no curve for enrolments of 6.
  EXPECT_FALSE(calibrate_examples(simulated_file_scores({}, {}, {0, 1}, enrolment_sets({0, 1}, 6, 1), "mean"), 6));
}

}  // namespace
}  // namespace oneshot
