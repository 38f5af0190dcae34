#pragma once
// Calibration on simulated enrolments, model-free: the decision threshold is
// chosen on scores made the way `enroll` + `classify` make them, so that
// `--far` is the false-accept rate of a FILE, not of a pair of windows.
//
// On the run's validation classes, each clip i is enrolled as `enroll` would
// enrol it (its sounding windows, several views), and every other clip j is
// classified as `classify` does (its sounding windows, each scored against i's
// examples with the library's example aggregate and, with AS-norm, normalised,
// then the window scores aggregated over j's windows). Pair (i, j) is a target
// when i and j are of the same class, a non-target otherwise. src/inference
// makes the window x enrolment table with the model; everything from there on
// is here, so that tests can drive it with a synthetic embedding model.
#include <cstddef>
#include <string>
#include <vector>

#include "enroll/library.h"

namespace oneshot {

struct SimulatedScores {
  std::vector<double> targets;             // file scores, same class (i != j)
  std::vector<double> non_targets;         // file scores, different class
  std::vector<double> non_target_windows;  // window scores, different class (detect's floor)
};

// window_scores: row-major (W x n_clips): the class score of query window w
// against clip i's enrolment. window_clip[w]: the clip window w belongs to.
// labels[i]: clip i's class. A clip is never scored against its own
// enrolment. window_aggregate: "mean", "max" or "vote" (as classify's
// rank_classes: vote ranks by votes but reports the mean score, so a file's
// score against one class is its mean here). Error for sizes that disagree or
// an unknown aggregate.
SimulatedScores simulated_file_scores(const std::vector<double>& window_scores,
                                      const std::vector<std::size_t>& window_clip, const std::vector<int>& labels,
                                      const std::string& window_aggregate);

// The calibration from simulated enrolments: threshold at `far` of the
// non-target FILE scores (calibrate_threshold: accept when score > threshold),
// frr of the target file scores at it, floor = the median non-target WINDOW
// score (a window without the sound, for detect's hysteresis), the logistic
// calibration of the file scores (score_norm.h), and the false-accept curve
// on default_far_grid() (decision.h), with which `far` is the rate of a whole
// library of n classes (library_threshold). method = "simulated", normalised
// as given. Error when there are no targets or no
// non-targets (fewer than 2 clips of a class, or one class).
Calibration calibrate_simulated(const SimulatedScores& scores, double far, bool normalised);

}  // namespace oneshot
