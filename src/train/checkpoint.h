#pragma once
// Training state and its checkpoint files. last.pt holds everything needed to
// continue exactly (model, optimizer, torch and pair-stream random states,
// epoch progress, early-stopping state, metrics history); best.pt holds the
// best weights in torch's module format (torch::load(model, "best.pt") works)
// plus a "meta" entry. Both are written atomically.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/siamese.h"

namespace oneshot {

// One row of metrics.csv.
struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0;
  double train_accuracy = 0;   // pairs decided right (logit > 0 == same class), weighted
  double val_accuracy = 0;     // one-shot episodes on the validation classes
  double val_ci95 = 0;         // 1.96 * std / sqrt(episodes)
  double val_std = 0;          // std of episode accuracies
  double seconds = 0;          // this epoch: training + validation
  double elapsed_seconds = 0;  // all epochs so far, across resumes
  double learning_rate = 0;    // after the epoch's last step
  std::int64_t steps = 0;          // optimizer steps so far
  std::int64_t pairs_seen = 0;     // pairs scored so far
  std::int64_t clips_encoded = 0;  // encoder passes (clips) so far
  // Exponential moving average of val_accuracy (train.val_smoothing): what
  // best.pt, early stopping and the plateau schedule go by.
  double val_smoothed = 0;
};

// The epoch in progress when a checkpoint is written mid-epoch (Ctrl-C).
struct PartialEpoch {
  std::int64_t steps_done = 0, total_steps = 0;
  double loss_sum = 0, correct_sum = 0, weight_sum = 0;  // pair-weighted sums over the steps done
  double seconds = 0;
};

struct TrainState {
  int epoch = 0;                  // epochs completed
  std::int64_t iterations = 0;    // optimizer steps (Keras decay counts these)
  std::int64_t pairs_seen = 0, clips_encoded = 0;
  double elapsed_seconds = 0;
  // Early stopping as the original: stop when epochs_since_best > patience,
  // counted on the smoothed validation accuracy (the raw one when
  // train.val_smoothing = 0).
  double best_accuracy = -1;
  double smoothed_accuracy = -1;   // -1: no validation yet
  double lr_scale = 1;             // "plateau" schedule: product of the drops so far
  int intervals_since_lr_drop = 0; // "plateau": intervals without improvement since the last drop or best
  int best_epoch = 0;
  int epochs_since_best = 0;
  std::string finished;           // why training ended ("" while it may continue)
  std::optional<PartialEpoch> partial;
  nlohmann::json pairs;           // PairSource::state()
  std::vector<EpochMetrics> history;

  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j);
};

// train.average_last: the model's parameters (model->parameters() order, CPU)
// after each of the last K intervals, oldest first.
struct WeightSnapshots {
  std::vector<int> epochs;
  std::vector<std::vector<torch::Tensor>> parameters;  // [snapshot][parameter]
};

// Called after the checkpoint bytes are written and before they replace the
// file (tests inject a failure there: an interrupted write).
using BeforeCommit = std::function<void(const std::filesystem::path& target)>;

// `objective`: the objective's own trained module (the class weights of
// train.objective "aam", ...), saved as "objective" beside the model; null
// when the objective has none. `snapshots` (train.average_last), saved as
// "average" when given.
void save_last_checkpoint(const std::filesystem::path& path, Siamese& model, torch::optim::Optimizer& optimizer,
                          const TrainState& state, const BeforeCommit& before_commit = {},
                          torch::nn::Module* objective = nullptr, const WeightSnapshots* snapshots = nullptr);
// Restores model, optimizer, the objective's module and the snapshots (each
// when given; a checkpoint without them is an Error) and torch's random
// state; returns the training state. A missing, truncated or foreign file is
// an Error naming it.
TrainState load_last_checkpoint(const std::filesystem::path& path, Siamese& model,
                                torch::optim::Optimizer& optimizer, torch::nn::Module* objective = nullptr,
                                WeightSnapshots* snapshots = nullptr);

void save_best_weights(const std::filesystem::path& path, Siamese& model, const nlohmann::json& meta,
                       const BeforeCommit& before_commit = {});
// Loads best.pt (or last.pt's model) into `model`; returns best.pt's meta.
nlohmann::json load_best_weights(const std::filesystem::path& path, Siamese& model);

void write_metrics_csv(const std::filesystem::path& path, const std::vector<EpochMetrics>& history);
std::vector<EpochMetrics> read_metrics_csv(const std::filesystem::path& path);

}  // namespace oneshot
