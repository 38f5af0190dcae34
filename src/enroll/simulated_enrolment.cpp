#include "enroll/simulated_enrolment.h"

#include <algorithm>
#include <limits>
#include <map>
#include <random>

#include "core/error.h"
#include "enroll/decision.h"
#include "enroll/score_norm.h"

namespace oneshot {

SimulatedScores simulated_file_scores(const std::vector<double>& window_scores,
                                      const std::vector<std::size_t>& window_clip, const std::vector<int>& labels,
                                      const std::string& window_aggregate) {
  std::vector<std::vector<std::size_t>> alone(labels.size());
  for (std::size_t i = 0; i < alone.size(); ++i) alone[i] = {i};
  return simulated_file_scores(window_scores, window_clip, labels, alone, window_aggregate);
}

SimulatedScores simulated_file_scores(const std::vector<double>& window_scores,
                                      const std::vector<std::size_t>& window_clip, const std::vector<int>& labels,
                                      const std::vector<std::vector<std::size_t>>& enrolments,
                                      const std::string& window_aggregate) {
  if (window_aggregate != "mean" && window_aggregate != "max" && window_aggregate != "vote")
    throw Error("window aggregate must be mean, max or vote, got " + window_aggregate);
  const std::size_t n_clips = labels.size(), n_windows = window_clip.size(), n_enrol = enrolments.size();
  if (window_scores.size() != n_windows * n_enrol)
    throw Error("simulated enrolments: " + std::to_string(window_scores.size()) + " scores for " +
                std::to_string(n_windows) + " windows x " + std::to_string(n_enrol) + " enrolments");
  // holds[e * n_clips + j]: clip j is enrolled in e (never scored against it).
  std::vector<char> holds(n_enrol * n_clips, 0);
  std::vector<int> label(n_enrol);
  for (std::size_t e = 0; e < n_enrol; ++e) {
    if (enrolments[e].empty()) throw Error("simulated enrolments: enrolment " + std::to_string(e) + " holds no clip");
    for (std::size_t i : enrolments[e]) {
      if (i >= n_clips) throw Error("simulated enrolments: clip " + std::to_string(i) + " of " + std::to_string(n_clips));
      if (labels[i] != labels[enrolments[e].front()])
        throw Error("simulated enrolments: enrolment " + std::to_string(e) + " mixes classes");
      holds[e * n_clips + i] = 1;
    }
    label[e] = labels[enrolments[e].front()];
  }
  const bool max = window_aggregate == "max";
  // file[j * n_enrol + e]: query clip j's aggregate against enrolment e.
  std::vector<double> file(n_clips * n_enrol, max ? -std::numeric_limits<double>::infinity() : 0.0);
  std::vector<std::size_t> count(n_clips, 0);
  for (std::size_t w = 0; w < n_windows; ++w) {
    if (window_clip[w] >= n_clips) throw Error("simulated enrolments: a window of clip " + std::to_string(window_clip[w]) +
                                               " of " + std::to_string(n_clips));
    ++count[window_clip[w]];
  }
  SimulatedScores out;
  for (std::size_t w = 0; w < n_windows; ++w) {
    const std::size_t j = window_clip[w];
    for (std::size_t e = 0; e < n_enrol; ++e) {
      if (holds[e * n_clips + j]) continue;
      const double s = window_scores[w * n_enrol + e];
      double& v = file[j * n_enrol + e];
      v = max ? std::max(v, s) : v + s / static_cast<double>(count[j]);
      if (label[e] != labels[j]) out.non_target_windows.push_back(s);
    }
  }
  for (std::size_t j = 0; j < n_clips; ++j) {
    if (count[j] == 0) continue;  // a clip without windows is never queried
    for (std::size_t e = 0; e < n_enrol; ++e)
      if (!holds[e * n_clips + j]) (label[e] == labels[j] ? out.targets : out.non_targets).push_back(file[j * n_enrol + e]);
  }
  return out;
}

std::vector<std::vector<std::size_t>> enrolment_sets(const std::vector<int>& labels, std::size_t k, std::uint64_t seed) {
  if (k == 0) throw Error("simulated enrolments of 0 clips");
  std::vector<std::vector<std::size_t>> out;
  if (k == 1) {
    for (std::size_t i = 0; i < labels.size(); ++i) out.push_back({i});
    return out;
  }
  std::map<int, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(i);
  std::mt19937_64 rng(seed);
  for (const auto& [label, clips] : by_label) {
    if (clips.size() < k + 1) continue;
    for (std::size_t first : clips) {
      std::vector<std::size_t> others;
      for (std::size_t i : clips)
        if (i != first) others.push_back(i);
      std::vector<std::size_t> set{first};
      for (std::size_t n = 0; n + 1 < k; ++n) {  // a partial Fisher-Yates draw
        std::uniform_int_distribution<std::size_t> pick(n, others.size() - 1);
        std::swap(others[n], others[pick(rng)]);
        set.push_back(others[n]);
      }
      out.push_back(std::move(set));
    }
  }
  return out;
}

std::vector<double> enrolment_scores(const std::vector<double>& scores, std::size_t rows,
                                     const std::vector<std::size_t>& clip_examples,
                                     const std::vector<std::vector<std::size_t>>& enrolments,
                                     const std::string& aggregate) {
  if (aggregate != "mean" && aggregate != "max")
    throw Error("enrolment scores: the aggregate must be mean or max, got " + aggregate);
  const std::size_t n_clips = clip_examples.size(), n_enrol = enrolments.size();
  if (scores.size() != rows * n_clips)
    throw Error("enrolment scores: " + std::to_string(scores.size()) + " scores for " + std::to_string(rows) +
                " rows x " + std::to_string(n_clips) + " clips");
  for (const auto& set : enrolments) {
    if (set.empty()) throw Error("enrolment scores: an enrolment holds no clip");
    for (std::size_t i : set)
      if (i >= n_clips) throw Error("enrolment scores: clip " + std::to_string(i) + " of " + std::to_string(n_clips));
  }
  const bool max = aggregate == "max";
  std::vector<double> out(rows * n_enrol);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t e = 0; e < n_enrol; ++e) {
      double value = max ? -std::numeric_limits<double>::infinity() : 0.0, weight = 0;
      for (std::size_t i : enrolments[e]) {
        const double s = scores[r * n_clips + i];
        if (max) {
          value = std::max(value, s);
        } else {
          value += s * static_cast<double>(clip_examples[i]);
          weight += static_cast<double>(clip_examples[i]);
        }
      }
      out[r * n_enrol + e] = max ? value : (weight > 0 ? value / weight : 0.0);
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

std::optional<ExamplesCalibration> calibrate_examples(const SimulatedScores& scores, std::int64_t examples) {
  if (scores.targets.empty() || scores.non_targets.empty()) return std::nullopt;
  ExamplesCalibration e;
  e.examples = examples;
  e.targets = static_cast<std::int64_t>(scores.targets.size());
  e.non_targets = static_cast<std::int64_t>(scores.non_targets.size());
  e.logistic = fit_logistic_calibration(scores.targets, scores.non_targets);
  e.far_curve = far_curve(scores.targets, scores.non_targets, default_far_grid());
  return e;
}

}  // namespace oneshot
