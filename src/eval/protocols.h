#pragma once
// One-shot evaluation protocols on unseen classes. Both compute each clip's
// embedding once (eval mode) and then apply only the merge + output layers to
// the pairs they compare, which gives the same decisions as running the whole
// siamese network on every pair, at a fraction of the cost.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "model/siamese.h"

namespace oneshot {

// The clips one protocol works on: indices into a FeatureSet, with their labels.
struct EvalSubset {
  std::vector<std::size_t> clips;  // indices into the FeatureSet
  std::vector<int> labels;         // labels[i] of clips[i] (FeatureSet class ids)
};

// Embeddings (N, D) of the subset's clips, model in eval mode, no grad, in batches.
torch::Tensor embed_subset(Siamese& model, const FeatureSet& features, const EvalSubset& subset,
                           torch::Device device = torch::kCPU, int64_t batch_size = 64);

struct EvalResult {
  std::string protocol;                 // "grid" or "episodes"
  std::vector<int> classes;             // FeatureSet class ids, in table order
  std::vector<double> class_accuracy;   // per class, same order
  double mean_accuracy = 0;             // mean of class_accuracy (grid) / of episode accuracies (episodes)
  double ci95 = 0;                      // 1.96 * std / sqrt(E) (episodes); 0 for grid
  double std = 0;                       // std of episode accuracies (episodes)
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted], table order
  int64_t decisions = 0;
  double seconds = 0;
};

// The original's grid test (see issue 4): per class 20 support candidates and 20 queries
// (floor(n/2) each for smaller classes), seeded shuffle, 400 decisions per class.
EvalResult evaluate_grid(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                         std::int64_t seed);

// N-way K-shot episodes with Q queries per class; mean accuracy and 95% CI.
EvalResult evaluate_episodes(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                             const EvalConfig& config);

// Dispatches on config.protocol.
EvalResult evaluate(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                    const EvalConfig& config);

}  // namespace oneshot
