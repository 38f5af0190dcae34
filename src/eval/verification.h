#pragma once
// Verification metrics, model-free: how well one score separates same-class
// (target) pairs from different-class (non-target) pairs, and the open-set
// enrol-one-clip task on a precomputed score matrix. Scores follow the
// project's one convention: a logit, higher = more similar (model/siamese.h);
// a pair is accepted when its score is strictly greater than the threshold
// (enroll/decision.h).
//
// Rates: FAR (false-accept rate) = accepted non-targets / non-targets,
// FRR (false-reject rate) = rejected targets / targets, both in [0, 1].
// Every function taking target and non-target scores throws oneshot::Error
// when either list is empty or holds a NaN.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace oneshot {

// One operating point: accept when score > threshold.
struct OperatingPoint {
  double threshold = 0;  // -inf: accept everything
  double far = 0, frr = 0;
};

// Every distinct operating point of the scores, from threshold -inf (FAR 1,
// FRR 0) through each distinct score in ascending order (the last: FAR 0,
// FRR 1). FAR never rises and FRR never falls along the list. A score shared
// by targets and non-targets moves both rates in one step (a diagonal of
// the ROC), as counting ties 1/2 does.
std::vector<OperatingPoint> operating_points(const std::vector<double>& target, const std::vector<double>& nontarget);

// The equal error rate by the ROC convex hull (ROCCH-EER; Brümmer and du
// Preez, BOSARIS toolkit rocch2eer; the NIST SRE and speaker-verification
// tools' definition): the lower-left convex hull of the operating points in
// the (FAR, FRR) plane, and the FAR = FRR point on the hull segment that
// crosses the diagonal, interpolated linearly between its two vertices. It is
// the smallest max(FAR, FRR) reachable by choosing between two thresholds at
// random, so it never exceeds the EER of any single threshold. Perfect
// separation gives 0; identical scores everywhere give 0.5.
double equal_error_rate(const std::vector<double>& target, const std::vector<double>& nontarget);

// The threshold for a target false-accept rate `far` in [0, 1), as
// enroll/decision.h's calibrate_threshold: with the non-target scores sorted
// in descending order d[0..n), t = d[min(floor(far n), n - 1)]; accepting
// score > t accepts at most floor(far n) non-targets (fewer with ties at t).
double threshold_at_far(const std::vector<double>& nontarget, double far);

struct RatesAtFar {
  double target_far = 0.05;  // asked for
  double threshold = 0;      // threshold_at_far
  double far = 0;            // reached: non-targets > threshold / non-targets (<= target_far)
  double frr = 0;            // targets <= threshold / targets
};
RatesAtFar frr_at_far(const std::vector<double>& target, const std::vector<double>& nontarget, double far = 0.05);

// The threshold_at_far of a stream of `n_nontarget` non-target scores, known
// in advance, keeping only the floor(far n) + 1 largest: for pair counts too
// large to hold (every pair of a large training split). add() more than
// n_nontarget times, or threshold() before n_nontarget, is an Error.
class FarThresholdTracker {
 public:
  FarThresholdTracker(double far, std::int64_t n_nontarget);
  void add(double score);
  double threshold() const;

 private:
  std::size_t keep_;
  std::int64_t expected_, seen_ = 0;
  std::vector<double> heap_;  // min-heap of the largest scores seen
};

// Area under the ROC: the probability that a random target outscores a
// random non-target, ties counted 1/2 (the Mann-Whitney U statistic over
// n_target * n_nontarget), computed from mid-ranks in O(n log n).
double auroc(const std::vector<double>& target, const std::vector<double>& nontarget);

// Score histograms on common bins: `bins` equal-width bins from the lowest to
// the highest score of both lists (each bin [edge[i], edge[i+1]), the last
// one closed); identical scores get the bin [s - 0.5, s + 0.5].
struct ScoreHistogram {
  std::vector<double> edges;                       // bins + 1, ascending
  std::vector<std::int64_t> target, nontarget;     // counts per bin
};
ScoreHistogram score_histogram(const std::vector<double>& target, const std::vector<double>& nontarget,
                               int bins = 40);

// A curve thinned for files and plots: keeps the first and last point and
// every point at least `step` away (in FAR or FRR) from the last one kept.
std::vector<OperatingPoint> thin_curve(const std::vector<OperatingPoint>& points, double step = 0.002);

// The standard normal quantile Phi^-1(p) for p in (0, 1) (Acklam's rational
// approximation refined by one Halley step, |error| < 1e-12): the DET plot's
// axes. p <= 0 gives -inf, p >= 1 +inf.
double probit(double p);

// --- the open-set enrol-one-clip task -------------------------------------

struct EnrolmentOptions {
  int enrolled_classes = 0;  // per draw; 0: half the classes, at least 2 (at most all)
  int draws = 1000;
  std::int64_t seed = 1;
  double threshold = 0;      // accept when the best enrolled score > threshold
};

// Means over draws of the per-draw fractions; NaN where a draw had no such
// query (all classes enrolled: no never-enrolled clip).
struct EnrolmentResult {
  int classes = 0, enrolled_classes = 0, draws = 0;
  double threshold = 0;
  double top1 = 0;      // enrolled-class queries whose best enrolled class is theirs (threshold ignored)
  double accepted = 0;  // enrolled-class queries whose best class is theirs and scores > threshold
  double rejected = 0;  // never-enrolled queries whose best score is <= threshold (rejected as unknown)
  double top1_std = 0, accepted_std = 0, rejected_std = 0;  // sample std over draws
  std::int64_t enrolled_queries = 0, unknown_queries = 0;   // summed over draws
};

// Each draw takes `enrolled_classes` classes at random and one random clip of
// each as its only enrolment (one seeded generator for all draws, the same
// sequence with every standard library: eval/sampling.h); every other clip of
// the split is a query, classified as the enrolled class of highest score
// (the first on ties). `scores` is the row-major n x n matrix of pair scores
// of the n clips, labels[i] the class of clip i. Throws oneshot::Error for
// fewer than 2 classes, a matrix of the wrong size, draws < 1, or more
// enrolled classes than there are.
EnrolmentResult enrol_one_clip(const std::vector<double>& scores, const std::vector<int>& labels,
                               const EnrolmentOptions& options);

// The summary of one split's pairs.
struct VerificationMetrics {
  std::int64_t target_pairs = 0, nontarget_pairs = 0;
  double eer = 0;
  RatesAtFar at_far;
  double auroc = 0;
  double target_mean = 0, nontarget_mean = 0;
  ScoreHistogram histogram;
  std::vector<OperatingPoint> curve;  // thin_curve of operating_points
};
VerificationMetrics verification_metrics(const std::vector<double>& target, const std::vector<double>& nontarget,
                                         double far = 0.05, int bins = 40);

// The target and non-target scores of the upper triangle (i < j) of the
// row-major n x n matrix, by labels[i] == labels[j].
void split_pair_scores(const std::vector<double>& scores, const std::vector<int>& labels,
                       std::vector<double>& target, std::vector<double>& nontarget);

}  // namespace oneshot
