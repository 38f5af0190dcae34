#include "enroll/decision.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "core/error.h"
#include "core/number_text.h"

namespace oneshot {

Calibration calibrate_threshold(const std::vector<double>& same_class, const std::vector<double>& different_class,
                                double far) {
  if (!(far >= 0 && far < 1)) throw Error("false-accept rate must be in [0, 1), got " + std::to_string(far));
  if (same_class.empty() || different_class.empty())
    throw Error("calibration needs same-class and different-class scores");
  std::vector<double> d = different_class;
  std::sort(d.begin(), d.end(), std::greater<>());
  const auto k = static_cast<std::size_t>(std::floor(far * static_cast<double>(d.size())));
  Calibration c;
  c.far = far;
  c.threshold = d[std::min(k, d.size() - 1)];
  c.frr = static_cast<double>(std::count_if(same_class.begin(), same_class.end(),
                                            [&](double s) { return s <= c.threshold; })) /
          static_cast<double>(same_class.size());
  c.floor = d[d.size() / 2];
  c.same_pairs = static_cast<std::int64_t>(same_class.size());
  c.different_pairs = static_cast<std::int64_t>(different_class.size());
  return c;
}

double per_class_far(double far, std::size_t n_classes) {
  if (!(far >= 0 && far < 1)) throw Error("false-accept rate must be in [0, 1), got " + std::to_string(far));
  if (n_classes == 0) throw Error("per_class_far: a library of no classes");
  if (n_classes == 1) return far;  // exactly: 1 - (1 - far) rounds
  return 1 - std::pow(1 - far, 1 / static_cast<double>(n_classes));
}

std::vector<double> default_far_grid() {
  std::vector<double> grid;
  for (int i = 0; i < 8 * 4; ++i) {  // 1e-4 .. 10^(-1/8): 8 a decade over four decades
    const double f = std::pow(10.0, -4.0 + i / 8.0);
    if (f < 0.5) grid.push_back(f);
  }
  grid.push_back(0.5);
  return grid;
}

std::vector<FarPoint> far_curve(const std::vector<double>& same_class, const std::vector<double>& different_class,
                                const std::vector<double>& grid) {
  std::vector<FarPoint> curve;
  curve.reserve(grid.size());
  for (double f : grid) {
    const Calibration c = calibrate_threshold(same_class, different_class, f);
    if (!curve.empty() && !(f > curve.back().far)) throw Error("far_curve: the grid must ascend");
    curve.push_back({f, c.threshold, c.frr});
  }
  return curve;
}

FarPoint far_point_at(const std::vector<FarPoint>& curve, double f) {
  if (curve.empty()) throw Error("far_point_at: an empty curve");
  if (!(std::isfinite(f) && f >= 0)) throw Error("far_point_at: the rate must be finite and >= 0");
  if (f <= curve.front().far) return curve.front();
  if (f >= curve.back().far) return curve.back();
  const auto hi = std::lower_bound(curve.begin(), curve.end(), f, [](const FarPoint& p, double x) { return p.far < x; });
  if (hi->far == f) return *hi;
  const auto lo = hi - 1;
  const double w = std::log(f / lo->far) / std::log(hi->far / lo->far);
  return {f, lo->threshold + w * (hi->threshold - lo->threshold), lo->frr + w * (hi->frr - lo->frr)};
}

FarPoint library_threshold(const Calibration& calibration, double far, std::size_t n_classes) {
  if (calibration.far_curve.empty()) return {calibration.far, calibration.threshold, calibration.frr};
  return far_point_at(calibration.far_curve, per_class_far(far, n_classes));
}

std::string rate_outside_curve(const std::vector<FarPoint>& curve, double far, std::size_t n_classes) {
  if (curve.empty() || n_classes == 0 || !(far >= 0 && far < 1)) return "";
  const double per_class = per_class_far(far, n_classes);
  if (per_class >= curve.front().far && per_class <= curve.back().far) return "";
  const double held = per_class < curve.front().far ? curve.front().far : curve.back().far;
  const double library_rate = 1 - std::pow(1 - held, static_cast<double>(n_classes));
  return "a false-accept rate of " + short_number(far) + " is " + short_number(per_class) + " a class over " +
         std::to_string(n_classes) + " class" + (n_classes == 1 ? "" : "es") + ", outside the calibration's curve (" +
         short_number(curve.front().far) + " to " + short_number(curve.back().far) +
         " a class): the threshold is the curve's end, about " + short_number(library_rate) + " of the library";
}

const ExamplesCalibration* examples_curve(const Calibration& calibration, std::int64_t examples) {
  const ExamplesCalibration* chosen = nullptr;
  for (const ExamplesCalibration& e : calibration.by_examples)
    if (e.examples <= examples && !e.far_curve.empty()) chosen = &e;
  return chosen;
}

Calibration for_examples(const Calibration& calibration, std::int64_t examples) {
  Calibration out = calibration;
  out.by_examples.clear();
  const ExamplesCalibration* chosen = examples_curve(calibration, examples);
  if (!chosen) return out;
  out.far_curve = chosen->far_curve;
  out.logistic = chosen->logistic;
  out.same_pairs = chosen->targets;
  out.different_pairs = chosen->non_targets;
  const FarPoint at = far_point_at(out.far_curve, out.far);
  out.threshold = at.threshold;
  out.frr = at.frr;
  return out;
}

double tighten_with_negatives(double threshold, const std::vector<double>& negative_scores) {
  for (double s : negative_scores) threshold = std::max(threshold, s);
  return threshold;
}

std::vector<double> aggregate_examples(const std::vector<double>& scores, std::size_t n_windows,
                                       const std::vector<std::size_t>& example_class, std::size_t n_classes,
                                       const std::string& how) {
  if (how != "mean" && how != "max") throw Error("example aggregate must be mean, max or prototype, got " + how);
  const std::size_t n_examples = example_class.size();
  if (scores.size() != n_windows * n_examples) throw Error("aggregate_examples: score table has the wrong size");
  const bool max = how == "max";
  std::vector<double> out(n_windows * n_classes, max ? -std::numeric_limits<double>::infinity() : 0.0);
  std::vector<std::size_t> count(n_classes, 0);
  for (std::size_t e = 0; e < n_examples; ++e) {
    if (example_class[e] >= n_classes)
      throw Error("aggregate_examples: example " + std::to_string(e) + " has class " +
                  std::to_string(example_class[e]) + " of " + std::to_string(n_classes));
    ++count[example_class[e]];
  }
  for (std::size_t w = 0; w < n_windows; ++w) {
    double* row = out.data() + w * n_classes;
    for (std::size_t e = 0; e < n_examples; ++e) {
      const double s = scores[w * n_examples + e];
      double& v = row[example_class[e]];
      v = max ? std::max(v, s) : v + s / static_cast<double>(count[example_class[e]]);
    }
  }
  return out;
}

std::vector<ClassDecision> rank_classes(const std::vector<double>& window_scores, std::size_t n_windows,
                                        std::size_t n_classes, const std::vector<bool>& eligible,
                                        const std::string& how) {
  if (how != "mean" && how != "max" && how != "vote")
    throw Error("window aggregate must be mean, max or vote, got " + how);
  if (window_scores.size() != n_windows * n_classes || eligible.size() != n_classes || n_windows == 0)
    throw Error("rank_classes: score table has the wrong size");
  std::vector<ClassDecision> out;
  for (std::size_t c = 0; c < n_classes; ++c) {
    if (!eligible[c]) continue;
    ClassDecision d{c, how == "max" ? -std::numeric_limits<double>::infinity() : 0.0, 0};
    for (std::size_t w = 0; w < n_windows; ++w) {
      const double s = window_scores[w * n_classes + c];
      d.score = how == "max" ? std::max(d.score, s) : d.score + s / static_cast<double>(n_windows);
    }
    out.push_back(d);
  }
  for (std::size_t w = 0; w < n_windows; ++w) {
    const double* row = window_scores.data() + w * n_classes;
    ClassDecision* best = nullptr;
    for (auto& d : out)
      if (!best || row[d.cls] > row[best->cls]) best = &d;
    if (best) ++best->votes;
  }
  std::stable_sort(out.begin(), out.end(), [&](const ClassDecision& a, const ClassDecision& b) {
    if (how == "vote" && a.votes != b.votes) return a.votes > b.votes;
    return a.score > b.score;
  });
  return out;
}

}  // namespace oneshot
