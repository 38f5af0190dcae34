// The original's one-shot test (tapioho/oneshot-learning-environmental-audio,
// src/model.py test_oneshot), on precomputed embeddings: every query is
// compared with support sets of one clip per class, and the most similar class
// is the decision.
#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/clock.h"
#include "eval/protocols.h"
#include "eval/sampling.h"
#include "eval/scoring.h"

namespace oneshot {
namespace {

constexpr std::size_t kGridClipsPerRole = 20;  // the original's n_tests

}  // namespace

GridPlan plan_grid(const EvalSubset& subset, std::int64_t seed) {
  const auto table = detail::class_table(subset);
  if (table.classes.size() < 2)
    throw Error("grid protocol: needs at least 2 classes, the split has " + std::to_string(table.classes.size()));
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  GridPlan plan;
  plan.classes = table.classes;
  std::vector<std::vector<std::size_t>> candidates;
  std::size_t n_sets = kGridClipsPerRole;
  for (std::size_t c = 0; c < table.classes.size(); ++c) {
    auto rows = table.rows[c];
    const std::size_t m = std::min(kGridClipsPerRole, rows.size() / 2);
    if (m == 0)
      throw Error("grid protocol: " + detail::class_label(subset, table.classes[c]) + " has " +
                  std::to_string(rows.size()) + " clip; it needs at least 2 (a support and a query)");
    shuffle(rows, rng);
    candidates.emplace_back(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(m));
    plan.queries.emplace_back(rows.begin() + static_cast<std::ptrdiff_t>(m),
                              rows.begin() + static_cast<std::ptrdiff_t>(2 * m));
    n_sets = std::min(n_sets, m);
  }
  // Support set j holds every class's j-th candidate ("the same positions").
  plan.support_sets.assign(n_sets, std::vector<std::size_t>(table.classes.size()));
  for (std::size_t j = 0; j < n_sets; ++j)
    for (std::size_t c = 0; c < table.classes.size(); ++c) plan.support_sets[j][c] = candidates[c][j];
  return plan;
}

EvalResult evaluate_grid(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                         std::int64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  if (embeddings.size(0) != static_cast<int64_t>(subset.clips.size()))
    throw Error("grid protocol: " + std::to_string(embeddings.size(0)) + " embeddings for " +
                std::to_string(subset.clips.size()) + " clips");
  const GridPlan plan = plan_grid(subset, seed);
  const std::size_t n_classes = plan.classes.size(), n_sets = plan.support_sets.size();

  EvalResult result;
  result.protocol = "grid";
  result.classes = plan.classes;
  result.confusion.assign(n_classes, std::vector<int64_t>(n_classes, 0));
  for (std::size_t i = 0; i < n_classes; ++i) {
    // All of class i's pairs in one call: (query, set, class) in row-major order.
    std::vector<int64_t> left, right;
    for (std::size_t query : plan.queries[i])
      for (const auto& set : plan.support_sets)
        for (std::size_t support : set) {
          left.push_back(static_cast<int64_t>(query));
          right.push_back(static_cast<int64_t>(support));
        }
    const auto logits = detail::head_logits(model, embeddings, left, embeddings, right);
    for (std::size_t d = 0; d < plan.queries[i].size() * n_sets; ++d)
      ++result.confusion[i][detail::argmax_first(logits.data() + d * n_classes, n_classes)];
  }
  detail::summarise_confusion(result);
  result.mean_accuracy =
      std::accumulate(result.class_accuracy.begin(), result.class_accuracy.end(), 0.0) / n_classes;
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace oneshot
