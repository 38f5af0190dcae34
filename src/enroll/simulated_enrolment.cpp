#include "enroll/simulated_enrolment.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"

namespace oneshot {

SimulatedScores simulated_file_scores(const std::vector<double>& window_scores,
                                      const std::vector<std::size_t>& window_clip, const std::vector<int>& labels,
                                      const std::string& window_aggregate) {
  if (window_aggregate != "mean" && window_aggregate != "max" && window_aggregate != "vote")
    throw Error("window aggregate must be mean, max or vote, got " + window_aggregate);
  const std::size_t n_clips = labels.size(), n_windows = window_clip.size();
  if (window_scores.size() != n_windows * n_clips)
    throw Error("simulated enrolments: " + std::to_string(window_scores.size()) + " scores for " +
                std::to_string(n_windows) + " windows x " + std::to_string(n_clips) + " clips");
  const bool max = window_aggregate == "max";
  // file[j * n + i]: query clip j's aggregate against enrolment i.
  std::vector<double> file(n_clips * n_clips, max ? -std::numeric_limits<double>::infinity() : 0.0);
  std::vector<std::size_t> count(n_clips, 0);
  for (std::size_t w = 0; w < n_windows; ++w) {
    if (window_clip[w] >= n_clips) throw Error("simulated enrolments: a window of clip " + std::to_string(window_clip[w]) +
                                               " of " + std::to_string(n_clips));
    ++count[window_clip[w]];
  }
  SimulatedScores out;
  for (std::size_t w = 0; w < n_windows; ++w) {
    const std::size_t j = window_clip[w];
    for (std::size_t i = 0; i < n_clips; ++i) {
      if (i == j) continue;
      const double s = window_scores[w * n_clips + i];
      double& v = file[j * n_clips + i];
      v = max ? std::max(v, s) : v + s / static_cast<double>(count[j]);
      if (labels[i] != labels[j]) out.non_target_windows.push_back(s);
    }
  }
  for (std::size_t j = 0; j < n_clips; ++j) {
    if (count[j] == 0) continue;  // a clip without windows is never queried
    for (std::size_t i = 0; i < n_clips; ++i)
      if (i != j) (labels[i] == labels[j] ? out.targets : out.non_targets).push_back(file[j * n_clips + i]);
  }
  return out;
}

Calibration calibrate_simulated(const SimulatedScores& scores, double far, bool normalised) {
  if (scores.targets.empty())
    throw Error("calibration on simulated enrolments needs a validation class with at least 2 clips");
  if (scores.non_targets.empty()) throw Error("calibration on simulated enrolments needs at least 2 validation classes");
  Calibration c = calibrate_threshold(scores.targets, scores.non_targets, far);
  if (!scores.non_target_windows.empty()) {
    std::vector<double> w = scores.non_target_windows;
    const auto mid = w.begin() + static_cast<std::ptrdiff_t>(w.size() / 2);
    std::nth_element(w.begin(), mid, w.end(), std::greater<>());
    c.floor = *mid;
  }
  c.method = "simulated";
  c.normalised = normalised;
  c.logistic = fit_logistic_calibration(scores.targets, scores.non_targets);
  c.far_curve = far_curve(scores.targets, scores.non_targets, default_far_grid());
  return c;
}

}  // namespace oneshot
