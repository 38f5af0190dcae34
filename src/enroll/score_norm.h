#pragma once
// Score normalisation and score calibration, model-free: the arithmetic that
// makes one threshold mean the same for every enrolled class and every
// recording, and that turns a score into a confidence in [0, 1].
//
// AS-norm (adaptive symmetric score normalisation; Matejka et al., "Analysis
// of score normalization in multilingual speaker recognition", Interspeech
// 2017; as in wespeaker's tools/score_norm / bin/score_norm.py): a cohort of
// embeddings of sounds that are neither the enrolled class nor the test sound
// (the run's training-class clips) is scored against the enrolled class e and
// against the test window t. With mu, sd the mean and standard deviation of the
// top-K (highest) cohort scores of each side,
//
//   s_norm(e, t) = ((s - mu_e) / sd_e + (s - mu_t) / sd_t) / 2.
//
// sd is the population standard deviation (numpy's np.std, as wespeaker),
// floored at kMinCohortSd so that a cohort of identical scores does not divide
// by zero. K is clipped to the cohort's size.
//
// Logistic calibration (Brummer's linear calibration, as in the BOSARIS
// toolkit; here without its prior offset): p = sigmoid(a s + b) fitted by
// weighted logistic regression on target (same-class) and non-target
// (different-class) scores, each side weighted to half the total (a prior of
// 0.5: balanced, whatever the counts), with a small ridge on a so that
// separable scores give a finite slope.
#include <cstddef>
#include <vector>

namespace oneshot {

// Below this a cohort's standard deviation is taken as this (score units).
inline constexpr double kMinCohortSd = 1e-6;

// The fewest top cohort scores worth a deviation: with K = 1 the deviation
// is 0 (the floor above: thresholds of -1.9e6), with 2 or 3 it swings from
// one window to the next. --cohort-top-k is at least this, and a domain's
// half (domain_top_k) never takes K below it.
inline constexpr std::size_t kMinCohortTopK = 10;

struct CohortStats {
  double mean = 0;
  double sd = 1;
};

// Mean and population standard deviation of the k highest of scores[0, n).
// k is clipped to n. Throws oneshot::Error when n or k is 0.
CohortStats top_k_stats(const double* scores, std::size_t n, std::size_t k);

// top_k_stats of every row of a row-major rows x cols table.
std::vector<CohortStats> top_k_stats_rows(const std::vector<double>& table, std::size_t rows, std::size_t cols,
                                          std::size_t k);

// top_k_stats of every column of a row-major rows x cols table (the cohort
// members' scores against each enrolled class: rows = cohort, cols = classes).
std::vector<CohortStats> top_k_stats_columns(const std::vector<double>& table, std::size_t rows, std::size_t cols,
                                             std::size_t k);

// ((s - e.mean) / e.sd + (s - t.mean) / t.sd) / 2.
double as_norm(double score, const CohortStats& enrolled, const CohortStats& test);

// Normalises a row-major windows x classes score table in place: entry (w, c)
// with class_stats[c] (the enrolled side) and window_stats[w] (the test side).
// Throws oneshot::Error when the sizes disagree.
void as_norm_table(std::vector<double>& scores, std::size_t n_windows, const std::vector<CohortStats>& class_stats,
                   const std::vector<CohortStats>& window_stats);

struct LogisticCalibration {
  double a = 1, b = 0;  // p = sigmoid(a s + b)
  double confidence(double score) const;
};

// Fits a and b by Newton's method on the weighted logistic loss
//   sum_t w_t log(1 + exp(-(a s_t + b))) + sum_n w_n log(1 + exp(a s_n + b)) + ridge/2 a^2,
// w_t = 0.5 / |targets|, w_n = 0.5 / |non_targets|. Throws oneshot::Error
// when either list is empty or holds a non-finite score.
LogisticCalibration fit_logistic_calibration(const std::vector<double>& targets,
                                             const std::vector<double>& non_targets, double ridge = 1e-3);

}  // namespace oneshot
