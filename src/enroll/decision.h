#pragma once
// From scores to decisions, model-free: the calibrated threshold at a target
// false-accept rate, the tightening by negative examples, and the aggregation
// of window x example scores into one score per class. Scores follow the
// project's one convention: a logit, higher = more similar (model/siamese.h).
#include <cstddef>
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
