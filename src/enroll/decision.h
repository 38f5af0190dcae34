#pragma once
// From scores to decisions, model-free: the calibrated threshold at a target
// false-accept rate, the tightening by negative examples, and the aggregation
// of window x example scores into one score per class. Scores follow the
// project's one convention: a logit, higher = more similar (model/siamese.h).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "enroll/library.h"

namespace oneshot {

// The threshold t for a false-accept rate `far` in [0, 1): with the
// different-class scores sorted in descending order d[0..n), t = d[floor(far n)],
// and a score is accepted when it is strictly greater than t, so at most
// floor(far n) of the different-class scores are accepted. frr = the fraction of
// same-class scores <= t. Throws oneshot::Error when either list is empty or far
// is outside [0, 1).
Calibration calibrate_threshold(const std::vector<double>& same_class, const std::vector<double>& different_class,
                                double far);

// The false-accept rate of a library, not of one class. A file of a sound
// that was never enrolled is accepted when it scores above the threshold
// against any of the library's n classes; with independent scores, a
// per-class rate f makes that 1 - (1 - f)^n. per_class_far is the f that
// gives a library-wide rate `far`: 1 - (1 - far)^(1/n) (about far / n).
// Scores of one file against several classes are positively correlated (a
// loud broadband file scores high against every class, which AS-norm
// reduces), which only lowers the library's rate below `far`. Throws
// oneshot::Error for far outside [0, 1) or n = 0.
double per_class_far(double far, std::size_t n_classes);

// Per-class rates 1e-4 .. 0.5, 8 a decade, log-spaced, and 0.5 itself.
std::vector<double> default_far_grid();

// calibrate_threshold's threshold and false-reject rate at each rate of
// `grid` (ascending, each in [0, 1)). Throws as calibrate_threshold does.
std::vector<FarPoint> far_curve(const std::vector<double>& same_class, const std::vector<double>& different_class,
                                const std::vector<double>& grid);

// The curve at per-class rate f: its points at the grid's rates, linear in
// log(f) between two neighbours (threshold and frr alike), the first or last
// point outside the grid (a rate below the grid's first takes its threshold,
// the highest). Throws oneshot::Error for an empty curve or a rate that is not
// finite and >= 0.
FarPoint far_point_at(const std::vector<FarPoint>& curve, double f);

// The threshold (and its per-class rate and false-reject rate) for a library
// of n positive classes at library-wide rate `far`: the curve at
// per_class_far(far, n). Without a curve (a per-pair calibration of version 1)
// the stored threshold, whose `far` is per class, whatever n and far.
FarPoint library_threshold(const Calibration& calibration, double far, std::size_t n_classes);

// Where library_threshold holds a rate at the curve's end: a library-wide rate
// `far` over n classes whose per-class share lies outside the curve's rates.
// Then a sentence for the user: "a false-accept rate of 0.999 is 0.9 a class
// over 3 classes, outside the calibration's curve (0.0001 to 0.5 a class): the
// threshold is the curve's end, about 0.875 of the library"; else "" (also
// without a curve, n = 0 or far outside [0, 1)).
std::string rate_outside_curve(const std::vector<FarPoint>& curve, double far, std::size_t n_classes);

// The calibration's by_examples entry of the largest count not above
// `examples` (with a curve), or nullptr: a class of that many recordings is
// decided on the one-recording curve.
const ExamplesCalibration* examples_curve(const Calibration& calibration, std::int64_t examples);

// The calibration as it applies to a class enrolled from `examples`
// recordings: with the curve (and confidence) of the calibration's
// by_examples entry of the largest count not above `examples` (a class of 4
// takes the curve of 3: stricter, since scores over more examples spread
// less), or the one-recording calibration when there is none (1, 0, or a
// calibration without them). The threshold and frr are then that curve's at
// the calibration's own rate; by_examples is left empty.
Calibration for_examples(const Calibration& calibration, std::int64_t examples);

// A class's threshold raised so that none of the given negative-window scores
// against that class would be accepted: max(threshold, max(negative_scores)).
double tighten_with_negatives(double threshold, const std::vector<double>& negative_scores);

// Per-class score of each window from its scores against every enrolled
// example: scores is row-major windows x examples, example_class[e] the class
// of example e (0..n_classes). "mean" or "max" over the class's examples
// (the episodes protocol's aggregates; "prototype" is scored by the model on the
// class's mean embedding, src/inference). Returns windows x n_classes.
std::vector<double> aggregate_examples(const std::vector<double>& scores, std::size_t n_windows,
                                       const std::vector<std::size_t>& example_class, std::size_t n_classes,
                                       const std::string& how);

struct ClassDecision {
  std::size_t cls = 0;
  double score = 0;       // aggregated over windows
  std::size_t votes = 0;  // windows whose best class this is
};

// Ranks classes for one file from its windows x n_classes scores: "mean" or
// "max" over windows ranks by that score; "vote" ranks by the number of windows
// whose best class it is (ties: higher mean score first) and reports the mean
// score. Only classes with eligible[c] are ranked (negatives are not).
std::vector<ClassDecision> rank_classes(const std::vector<double>& window_scores, std::size_t n_windows,
                                        std::size_t n_classes, const std::vector<bool>& eligible,
                                        const std::string& how);

}  // namespace oneshot
