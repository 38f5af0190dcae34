// The verification protocol: every pair of clips scored by the model's head,
// one clip against one clip (as enrolling a sound from one recording is), and
// the open-set enrol-one-clip task. The metrics themselves are model-free
// (eval/verification.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "core/clock.h"
#include "core/error.h"
#include "enroll/domain_centre.h"
#include "eval/protocols.h"
#include "eval/scoring.h"

namespace oneshot {
namespace {

constexpr int64_t kScoreElementsPerBlock = 1 << 24;  // (rows x N x D) floats expanded by score_matrix: 64 MiB

void check_embeddings(const torch::Tensor& embeddings, const EvalSubset& subset, const char* what) {
  if (embeddings.dim() != 2 || embeddings.size(0) != static_cast<int64_t>(subset.clips.size()))
    throw Error(std::string(what) + ": " + std::to_string(embeddings.dim() == 2 ? embeddings.size(0) : -1) +
                " embeddings for " + std::to_string(subset.clips.size()) + " clips");
}

// Calls visit(first_row, rows, block) with the (rows, N) double scores of
// consecutive row blocks.
// The head scores of `rows` (N, D) against `columns` (M, D), a block of rows
// at a time: visit(first, count, block) with block row-major count x M.
template <class Visit>
void for_each_score_block(Siamese& model, const torch::Tensor& rows, const torch::Tensor& columns, Visit&& visit) {
  torch::NoGradGuard no_grad;
  const int64_t n = rows.size(0), m = columns.size(0), d = std::max<int64_t>(1, rows.size(1));
  const int64_t per_block = std::max<int64_t>(1, kScoreElementsPerBlock / std::max<int64_t>(1, m * d));
  for (int64_t first = 0; first < n; first += per_block) {
    const int64_t count = std::min(per_block, n - first);
    auto block =
        model->score_matrix(rows.narrow(0, first, count), columns).to(torch::kCPU, torch::kDouble).contiguous();
    visit(first, count, block.data_ptr<double>());
  }
}

template <class Visit>
void for_each_score_block(Siamese& model, const torch::Tensor& embeddings, Visit&& visit) {
  for_each_score_block(model, embeddings, embeddings, std::forward<Visit>(visit));
}

void check_stats(const std::vector<CohortStats>& stats, const EvalSubset& subset, const char* what) {
  if (!stats.empty() && stats.size() != subset.clips.size())
    throw Error(std::string(what) + ": " + std::to_string(stats.size()) + " cohort statistics for " +
                std::to_string(subset.clips.size()) + " clips");
}

}  // namespace

torch::Tensor recentred(const torch::Tensor& embeddings, const std::vector<std::size_t>& parts,
                        const std::vector<float>& centre) {
  torch::Tensor out = embeddings.to(torch::kCPU, torch::kFloat).contiguous().clone();
  if (out.numel() == 0) return out;
  recentre_rows(out.data_ptr<float>(), static_cast<std::size_t>(out.size(0)), static_cast<std::size_t>(out.size(1)),
                parts, centre);
  return out;
}

torch::Tensor centred_on_own_mean(Siamese& model, const torch::Tensor& embeddings) {
  if (embeddings.dim() != 2 || embeddings.size(0) == 0)
    throw Error("centring on the clips' own mean: no embeddings");
  torch::NoGradGuard no_grad;
  const torch::Tensor mean = embeddings.to(torch::kCPU, torch::kFloat).mean(0).contiguous();
  const std::vector<float> centre(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  return recentred(embeddings, model->embedding_parts(), centre).to(embeddings.device());
}

std::vector<CohortStats> cohort_statistics(Siamese& model, const torch::Tensor& rows, const torch::Tensor& cohort,
                                           std::size_t k) {
  if (cohort.size(0) == 0) throw Error("score normalisation: the cohort has no member");
  std::vector<CohortStats> out(static_cast<std::size_t>(rows.size(0)));
  const auto m = static_cast<std::size_t>(cohort.size(0));
  for_each_score_block(model, rows, cohort, [&](int64_t first, int64_t count, const double* block) {
    for (int64_t r = 0; r < count; ++r)
      out[static_cast<std::size_t>(first + r)] = top_k_stats(block + static_cast<std::size_t>(r) * m, m, k);
  });
  return out;
}

std::vector<CohortStats> cohort_statistics_of_pairs(const std::vector<double>& pair_scores, std::size_t n,
                                                    std::size_t k) {
  if (pair_scores.size() != n * n) throw Error("score normalisation: the pair-score matrix has the wrong size");
  if (n < 2) throw Error("score normalisation: the cohort has no member");
  std::vector<CohortStats> out(n);
  std::vector<double> row(n - 1);
  for (std::size_t i = 0; i < n; ++i) {  // every member but the clip itself
    const double* scores = pair_scores.data() + i * n;
    std::copy_n(scores, i, row.begin());
    std::copy(scores + i + 1, scores + n, row.begin() + static_cast<std::ptrdiff_t>(i));
    out[i] = top_k_stats(row.data(), n - 1, k);
  }
  return out;
}

std::vector<double> pair_score_matrix(Siamese& model, const torch::Tensor& embeddings) {
  const auto n = static_cast<std::size_t>(embeddings.size(0));
  std::vector<double> out(n * n);
  for_each_score_block(model, embeddings, [&](int64_t first, int64_t count, const double* block) {
    std::copy_n(block, static_cast<std::size_t>(count) * n, out.begin() + static_cast<std::ptrdiff_t>(first * n));
  });
  return out;
}

namespace {

// The calibration of every pair i < j, whatever gives the scores:
// for_each_row(visit) calls visit(i, row) for every clip i with its scores
// against every clip (row[j]).
template <class ForEachRow>
ThresholdCalibration calibrate_rows(const EvalSubset& subset, double far, const std::vector<CohortStats>& stats,
                                    ForEachRow for_each_row) {
  check_stats(stats, subset, "threshold calibration");
  const auto table = detail::class_table(subset);
  if (table.classes.size() < 2)
    throw Error("threshold calibration: needs at least 2 classes, got " + std::to_string(table.classes.size()));
  const auto n = static_cast<std::int64_t>(subset.clips.size());
  std::int64_t same = 0;
  for (const auto& rows : table.rows) same += static_cast<std::int64_t>(rows.size() * (rows.size() - 1) / 2);
  ThresholdCalibration c;
  c.source = "training classes";
  c.far = far;
  c.classes = static_cast<std::int64_t>(table.classes.size());
  c.clips = n;
  c.target_pairs = same;
  c.nontarget_pairs = n * (n - 1) / 2 - same;
  FarThresholdTracker tracker(far, c.nontarget_pairs);
  std::vector<double> targets;
  targets.reserve(static_cast<std::size_t>(same));
  for_each_row([&](std::size_t i, const double* row) {
    for (auto j = i + 1; j < static_cast<std::size_t>(n); ++j) {
      double s = row[j];
      if (!stats.empty()) s = as_norm(s, stats[i], stats[j]);
      if (subset.labels[i] == subset.labels[j]) targets.push_back(s);
      else tracker.add(s);
    }
  });
  c.threshold = tracker.threshold();
  c.frr = targets.empty() ? std::numeric_limits<double>::quiet_NaN()
                          : static_cast<double>(std::count_if(targets.begin(), targets.end(),
                                                              [&](double s) { return s <= c.threshold; })) /
                                static_cast<double>(targets.size());
  return c;
}

}  // namespace

ThresholdCalibration calibrate_on_pairs(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                        double far, const std::vector<CohortStats>& stats) {
  check_embeddings(embeddings, subset, "threshold calibration");
  const auto n = static_cast<std::size_t>(subset.clips.size());
  return calibrate_rows(subset, far, stats, [&](const auto& visit) {
    for_each_score_block(model, embeddings, [&](int64_t first, int64_t count, const double* block) {
      for (int64_t r = 0; r < count; ++r) visit(static_cast<std::size_t>(first + r), block + static_cast<std::size_t>(r) * n);
    });
  });
}

ThresholdCalibration calibrate_on_pairs(const std::vector<double>& pair_scores, const EvalSubset& subset, double far,
                                        const std::vector<CohortStats>& stats) {
  const std::size_t n = subset.clips.size();
  if (pair_scores.size() != n * n)
    throw Error("threshold calibration: " + std::to_string(pair_scores.size()) + " pair scores for " +
                std::to_string(n) + " clips");
  return calibrate_rows(subset, far, stats, [&](const auto& visit) {
    for (std::size_t i = 0; i < n; ++i) visit(i, pair_scores.data() + i * n);
  });
}

VerificationResult evaluate_verification(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                         const ThresholdCalibration& calibration,
                                         const VerificationOptions& options, const std::vector<CohortStats>& stats) {
  const auto start = std::chrono::steady_clock::now();
  check_embeddings(embeddings, subset, "verification protocol");
  check_stats(stats, subset, "verification protocol");
  VerificationResult result =
      evaluate_verification(pair_score_matrix(model, embeddings), subset, calibration, options, stats);
  result.seconds = seconds_since(start);
  return result;
}

VerificationResult evaluate_verification(std::vector<double> scores, const EvalSubset& subset,
                                         const ThresholdCalibration& calibration, const VerificationOptions& options,
                                         const std::vector<CohortStats>& stats) {
  const auto start = std::chrono::steady_clock::now();
  if (scores.size() != subset.clips.size() * subset.clips.size())
    throw Error("verification protocol: " + std::to_string(scores.size()) + " pair scores for " +
                std::to_string(subset.clips.size()) + " clips");
  check_stats(stats, subset, "verification protocol");
  const auto table = detail::class_table(subset);
  if (table.classes.size() < 2)
    throw Error("verification protocol: needs at least 2 classes, the split has " +
                std::to_string(table.classes.size()));
  if (!stats.empty()) {
    const std::size_t n = stats.size();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) scores[i * n + j] = as_norm(scores[i * n + j], stats[i], stats[j]);
  }
  std::vector<double> target, nontarget;
  split_pair_scores(scores, subset.labels, target, nontarget);
  if (target.empty())
    throw Error("verification protocol: every class of the split has one clip; same-class pairs need two");
  VerificationResult result;
  result.classes = table.classes;
  result.clips = static_cast<std::int64_t>(subset.clips.size());
  result.metrics = verification_metrics(target, nontarget, options.far, options.bins);
  result.calibration = calibration;
  EnrolmentOptions enrol;
  enrol.enrolled_classes = options.enrolled_classes;
  enrol.draws = options.draws;
  enrol.seed = options.seed;
  enrol.threshold = calibration.threshold;
  result.enrolment = enrol_one_clip(scores, subset.labels, enrol);
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace oneshot
