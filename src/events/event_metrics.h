#pragma once
// Event-based precision, recall and F-measure with the matching rule of the
// DCASE 2021/2022 Task 5 few-shot bioacoustic event detection evaluation
// (Morfi et al., "Few-shot bioacoustic event detection: a new task at the
// DCASE 2021 challenge", DCASE Workshop 2021; code: github.com/c4dm/
// dcase-few-shot-bioacoustic, evaluation_metrics/metrics.py match_events and
// evaluation.py compute_tp_fp_fn):
//  - a reference event and an estimated event may match when they have the
//    same filename and the same label and the IoU of their time intervals,
//      IoU = (min(off_r, off_e) - max(on_r, on_e)) / (max(off_r, off_e) - min(on_r, on_e)),
//    is strictly greater than the threshold (0.3; intervals that do not
//    overlap have IoU 0);
//  - each event matches at most one other: the matching is a maximum
//    bipartite matching (maximum cardinality; the reference code uses
//    mir_eval's Hopcroft-Karp, as does this), per filename and label;
//  - TP = size of the matching, FP = estimates - TP, FN = references - TP;
//    P = TP / (TP + FP), R = TP / (TP + FN), F = 2 TP / (2 TP + FP + FN)
//    (= 2PR / (P + R); the reference's tp / (tp + 0.5 (fp + fn))).
// Undefined ratios (P of a label without estimates, R of a label without
// references) count as 0, as in sed_eval and the reference code (which uses
// 1e-5 so that its harmonic mean stays defined).
//
// Differences from the challenge's evaluation, which scores one positive
// class per file: labels are matched separately (a "dog" estimate never
// matches a "cat" reference); there is no UNK class and no skipping of the
// first five shots. Per label and two averages are reported:
//  - macro: the arithmetic mean of the per-label P, R and F (sed_eval's
//    class-wise average) over every label in the reference PLUS every label
//    that only the estimate has: a detector that invents a class is
//    penalised (that label's F is 0) rather than silently ignored. (The
//    challenge takes the harmonic mean over its sub-datasets; an arithmetic
//    mean over labels does not collapse to 0 when one label is missed.)
//  - micro: P, R and F of the counts summed over labels.
#include <cstddef>
#include <string>
#include <vector>

#include "events/event.h"

namespace oneshot {

inline constexpr double kDcaseIouThreshold = 0.3;

// IoU of [on1, off1] and [on2, off2]; 0 when they do not overlap or the union
// has no length.
double interval_iou(double on1, double off1, double on2, double off2);

// A maximum-cardinality matching of a bipartite graph (Hopcroft-Karp,
// O(E sqrt(V)), no recursion): adjacency[l] lists the right vertices
// (0 .. n_right-1) left vertex l may match. Returns, per left vertex, its
// matched right vertex or -1.
std::vector<int> maximum_bipartite_matching(const std::vector<std::vector<int>>& adjacency, int n_right);

struct EventCounts {
  std::size_t reference = 0, estimate = 0, tp = 0;
  std::size_t fp() const { return estimate - tp; }
  std::size_t fn() const { return reference - tp; }
  double precision() const;  // 0 without estimates
  double recall() const;     // 0 without references
  double f_measure() const;  // 0 when both are empty
};

struct LabelScore {
  std::string label;
  EventCounts counts;
  bool in_reference = true;  // false: a label only the estimate has
};

struct EventScores {
  double iou_threshold = kDcaseIouThreshold;
  std::vector<LabelScore> labels;  // sorted by label
  EventCounts micro;               // summed over labels
  double macro_precision = 0, macro_recall = 0, macro_f = 0;  // 0 when there are no labels
  std::size_t n_files = 0;         // distinct filenames in either list
};

// Scores ESTIMATE against REFERENCE. Events are grouped by (filename, label);
// within a group the candidate pairs are found from the events sorted by
// onset (a pair with IoU > t > 0 has an estimate no longer than the
// reference / t), so long recordings with thousands of events stay fast.
// Errors: oneshot::Error for an iou_threshold outside [0, 1) or not finite,
// or an invalid event (see event_problem).
EventScores score_events(const std::vector<Event>& reference, const std::vector<Event>& estimate,
                         double iou_threshold = kDcaseIouThreshold);

}  // namespace oneshot
