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
template <class Visit>
void for_each_score_block(Siamese& model, const torch::Tensor& embeddings, Visit&& visit) {
  torch::NoGradGuard no_grad;
  const int64_t n = embeddings.size(0), d = std::max<int64_t>(1, embeddings.size(1));
  const int64_t rows = std::max<int64_t>(1, kScoreElementsPerBlock / std::max<int64_t>(1, n * d));
  for (int64_t first = 0; first < n; first += rows) {
    const int64_t count = std::min(rows, n - first);
    auto block = model->score_matrix(embeddings.narrow(0, first, count), embeddings)
                     .to(torch::kCPU, torch::kDouble)
                     .contiguous();
    visit(first, count, block.data_ptr<double>());
  }
}

}  // namespace

std::vector<double> pair_score_matrix(Siamese& model, const torch::Tensor& embeddings) {
  const auto n = static_cast<std::size_t>(embeddings.size(0));
  std::vector<double> out(n * n);
  for_each_score_block(model, embeddings, [&](int64_t first, int64_t count, const double* block) {
    std::copy_n(block, static_cast<std::size_t>(count) * n, out.begin() + static_cast<std::ptrdiff_t>(first * n));
  });
  return out;
}

ThresholdCalibration calibrate_on_pairs(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                        double far) {
  check_embeddings(embeddings, subset, "threshold calibration");
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
  for_each_score_block(model, embeddings, [&](int64_t first, int64_t count, const double* block) {
    for (int64_t r = 0; r < count; ++r) {
      const auto i = static_cast<std::size_t>(first + r);
      for (auto j = i + 1; j < static_cast<std::size_t>(n); ++j) {
        const double s = block[r * n + static_cast<int64_t>(j)];
        if (subset.labels[i] == subset.labels[j]) targets.push_back(s);
        else tracker.add(s);
      }
    }
  });
  c.threshold = tracker.threshold();
  c.frr = targets.empty() ? std::numeric_limits<double>::quiet_NaN()
                          : static_cast<double>(std::count_if(targets.begin(), targets.end(),
                                                              [&](double s) { return s <= c.threshold; })) /
                                static_cast<double>(targets.size());
  return c;
}

VerificationResult evaluate_verification(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                         const ThresholdCalibration& calibration,
                                         const VerificationOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  check_embeddings(embeddings, subset, "verification protocol");
  const auto table = detail::class_table(subset);
  if (table.classes.size() < 2)
    throw Error("verification protocol: needs at least 2 classes, the split has " +
                std::to_string(table.classes.size()));
  const auto scores = pair_score_matrix(model, embeddings);
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
