#include "enroll/score_norm.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "core/error.h"

namespace oneshot {

CohortStats top_k_stats(const double* scores, std::size_t n, std::size_t k) {
  if (n == 0) throw Error("score normalisation: the cohort is empty");
  if (k == 0) throw Error("score normalisation: top-K must be at least 1");
  k = std::min(k, n);
  std::vector<double> top(scores, scores + n);
  if (k < n) std::nth_element(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k - 1), top.end(), std::greater<>());
  double sum = 0;
  for (std::size_t i = 0; i < k; ++i) sum += top[i];
  const double mean = sum / static_cast<double>(k);
  double ss = 0;
  for (std::size_t i = 0; i < k; ++i) ss += (top[i] - mean) * (top[i] - mean);
  return {mean, std::max(std::sqrt(ss / static_cast<double>(k)), kMinCohortSd)};
}

std::vector<CohortStats> top_k_stats_rows(const std::vector<double>& table, std::size_t rows, std::size_t cols,
                                          std::size_t k) {
  if (table.size() != rows * cols) throw Error("score normalisation: the cohort score table has the wrong size");
  std::vector<CohortStats> out;
  out.reserve(rows);
  for (std::size_t r = 0; r < rows; ++r) out.push_back(top_k_stats(table.data() + r * cols, cols, k));
  return out;
}

std::vector<CohortStats> top_k_stats_columns(const std::vector<double>& table, std::size_t rows, std::size_t cols,
                                             std::size_t k) {
  if (table.size() != rows * cols) throw Error("score normalisation: the cohort score table has the wrong size");
  std::vector<CohortStats> out;
  out.reserve(cols);
  std::vector<double> column(rows);
  for (std::size_t c = 0; c < cols; ++c) {
    for (std::size_t r = 0; r < rows; ++r) column[r] = table[r * cols + c];
    out.push_back(top_k_stats(column.data(), rows, k));
  }
  return out;
}

double as_norm(double score, const CohortStats& enrolled, const CohortStats& test) {
  return 0.5 * ((score - enrolled.mean) / enrolled.sd + (score - test.mean) / test.sd);
}

void as_norm_table(std::vector<double>& scores, std::size_t n_windows, const std::vector<CohortStats>& class_stats,
                   const std::vector<CohortStats>& window_stats) {
  const std::size_t n_classes = class_stats.size();
  if (scores.size() != n_windows * n_classes || window_stats.size() != n_windows)
    throw Error("score normalisation: " + std::to_string(scores.size()) + " scores for " + std::to_string(n_windows) +
                " windows x " + std::to_string(n_classes) + " classes with " + std::to_string(window_stats.size()) +
                " window statistics");
  for (std::size_t w = 0; w < n_windows; ++w)
    for (std::size_t c = 0; c < n_classes; ++c) {
      double& s = scores[w * n_classes + c];
      s = as_norm(s, class_stats[c], window_stats[w]);
    }
}

namespace {

double sigmoid(double z) { return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z)); }
// log(1 + exp(z)) without overflow.
double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

}  // namespace

double LogisticCalibration::confidence(double score) const { return sigmoid(a * score + b); }

LogisticCalibration fit_logistic_calibration(const std::vector<double>& targets, const std::vector<double>& non_targets,
                                             double ridge) {
  if (targets.empty() || non_targets.empty())
    throw Error("logistic calibration needs target (same-class) and non-target (different-class) scores");
  for (const auto* list : {&targets, &non_targets})
    for (double s : *list)
      if (!std::isfinite(s)) throw Error("logistic calibration: a score is not finite");
  const double wt = 0.5 / static_cast<double>(targets.size()), wn = 0.5 / static_cast<double>(non_targets.size());
  auto loss = [&](double a, double b) {
    double l = 0.5 * ridge * a * a;
    for (double s : targets) l += wt * softplus(-(a * s + b));
    for (double s : non_targets) l += wn * softplus(a * s + b);
    return l;
  };
  double a = 0, b = 0, current = loss(a, b);
  for (int iteration = 0; iteration < 100; ++iteration) {
    // Gradient and Hessian of the loss in (a, b): dL/dz = w (p - t), d2L/dz2 = w p (1 - p).
    double ga = ridge * a, gb = 0, haa = ridge, hab = 0, hbb = 0;
    auto add = [&](double s, double w, double t) {
      const double p = sigmoid(a * s + b), d = w * (p - t), h = w * p * (1 - p);
      ga += d * s;
      gb += d;
      haa += h * s * s;
      hab += h * s;
      hbb += h;
    };
    for (double s : targets) add(s, wt, 1);
    for (double s : non_targets) add(s, wn, 0);
    const double det = haa * hbb - hab * hab;
    double da, db;
    if (det > 1e-300 && hbb > 0) {
      da = (hbb * ga - hab * gb) / det;
      db = (haa * gb - hab * ga) / det;
    } else {  // a degenerate Hessian (every score equal): a gradient step
      da = ga;
      db = gb;
    }
    // Backtracking: Newton's full step can overshoot far from the optimum.
    double step = 1;
    double next = loss(a - da, b - db);
    while (next > current && step > 1e-10) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (next > current) break;
    a -= step * da;
    b -= step * db;
    const bool converged = current - next < 1e-14 && std::abs(step * da) + std::abs(step * db) < 1e-10;
    current = next;
    if (converged) break;
  }
  return {a, b};
}

}  // namespace oneshot
