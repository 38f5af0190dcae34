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
// when i and j are of the same class, a non-target otherwise. The same with
// enrolments of k clips of a class (enrolment_sets), for the curves of
// classes enrolled from several recordings. src/inference
// makes the window x enrolment table with the model; everything from there on
// is here, so that tests can drive it with a synthetic embedding model.
#include <cstddef>
#include <cstdint>
#include <optional>
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

// Enrolments of several recordings. enrolments[e]: the clips enrolled
// together as one class (all of one label); window_scores is then (W x E),
// the class score of window w against enrolment e. A clip is never scored
// against an enrolment that holds it; a target is a clip of the enrolment's
// label outside it. The overload above is the enrolment of each clip alone.
SimulatedScores simulated_file_scores(const std::vector<double>& window_scores,
                                      const std::vector<std::size_t>& window_clip, const std::vector<int>& labels,
                                      const std::vector<std::vector<std::size_t>>& enrolments,
                                      const std::string& window_aggregate);

// The enrolments of k clips of one class that a calibration simulates: for
// each label with at least k + 1 clips (so that one is left to query), one
// enrolment per clip of it: that clip and k - 1 others of the label drawn
// without replacement (std::mt19937_64 seeded with `seed`; labels in
// ascending order, clips in index order). k = 1: each clip alone, in index
// order. Empty when no label has k + 1 clips. Error for k = 0.
std::vector<std::vector<std::size_t>> enrolment_sets(const std::vector<int>& labels, std::size_t k, std::uint64_t seed);

// A class's scores against an enrolment of several clips from the scores
// against each clip, as the library aggregates a class's examples: scores is
// row-major (rows x n_clips), clip_examples[i] the examples (views) of clip
// i; "mean": the mean over the enrolment's examples (each clip's mean
// weighted by its examples), "max": the maximum. Returns (rows x
// enrolments). ("prototype" needs the embeddings: src/inference.) Error for
// another aggregate, sizes that disagree or an empty enrolment.
std::vector<double> enrolment_scores(const std::vector<double>& scores, std::size_t rows,
                                     const std::vector<std::size_t>& clip_examples,
                                     const std::vector<std::vector<std::size_t>>& enrolments,
                                     const std::string& aggregate);

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

// The curve and confidence of classes enrolled from `examples` recordings,
// from their simulated scores (as calibrate_simulated's). nullopt when there
// are no targets or no non-targets.
std::optional<ExamplesCalibration> calibrate_examples(const SimulatedScores& scores, std::int64_t examples);

}  // namespace oneshot
