#pragma once
// One-shot validation after every epoch, made a steady signal:
//  - BatchNorm statistics re-estimated with the current weights (a fixed,
//    seeded set of training clips, cumulative average) instead of Keras-style
//    running averages (momentum 0.99) that lag many steps behind the weights;
//  - the same seeded episodes every epoch, so epochs differ by the model only;
//  - many episodes (train.val_episodes), reported with their spread.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "model/siamese.h"

namespace oneshot {

// (B, 1, n_mels, n_frames) float32 of the given clips.
torch::Tensor clips_tensor(const FeatureSet& features, const std::vector<std::size_t>& clips,
                           torch::Device device = torch::kCPU);

// Resets every BatchNorm's running statistics and re-estimates them from
// `clips` in batches of `batch_size` (train-mode BatchNorm, dropout off, no
// grad); restores the modules' momentum and the model's training mode.
void recalibrate_batchnorm(Siamese& model, const FeatureSet& features, const std::vector<std::size_t>& clips,
                           std::int64_t batch_size, torch::Device device);

struct ValidationResult {
  double accuracy = 0, ci95 = 0, std = 0;
  int ways = 0, episodes = 0;
  double seconds = 0;
};

struct ValidationPlan {
  std::vector<int> classes;                 // validation classes
  std::vector<std::size_t> recalibration;   // training clips for BatchNorm (empty: off)
  std::int64_t batch_size = 32;             // BatchNorm batch: clips per encoder call in training
  EvalConfig episodes;                      // 5-way (fewer if fewer classes) 1-shot episodes
};

// The plan for a config: recalibration clips drawn once from the training
// clips (seeded), episodes seeded with train.seed. Throws oneshot::Error when
// there are fewer than 2 validation classes.
ValidationPlan plan_validation(const Config& config, const FeatureSet& features, const std::vector<int>& train_classes,
                               const std::vector<int>& val_classes, std::int64_t batch_size);

ValidationResult validate(Siamese& model, const FeatureSet& features, const ValidationPlan& plan,
                          torch::Device device);

}  // namespace oneshot
