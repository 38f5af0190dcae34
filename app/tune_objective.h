#pragma once
// The "train" objective of `oneshot-audio tune`: a trial trains the siamese
// network with its parameters and returns 1 - best validation one-shot
// accuracy. It lives in the app, not in the tune library, so that library
// stays free of LibTorch.
#include "core/config.h"
#include "data/feature_cache.h"
#include "train/split.h"

namespace oneshot::cli {

// The split a tuning trial trains with: the test classes of
// split_classes(config.split) are set aside untouched, and tune.n_val
// validation classes (a count, or a fraction below 1) are carved from its
// training classes by a shuffle seeded with tune.seed. The run's own
// validation classes (split.n_val) take no part. Errors name tune.n_val.
ClassSplit tuning_split(const FeatureSet& features, const Config& config);
// The same from the run's split (split_classes(config.split)): what
// tuning_split carves, checked on the dataset before its features are cached.
ClassSplit carve_tuning_split(const ClassSplit& run, const Config& config);

// The trial's run config: `base` with the trial's overrides applied, at most
// tune.max_epochs epochs with patience tune.patience, validated.
Config trial_config(const Config& base, const std::vector<std::string>& assignments);

// Registers "train" with tune::register_objective (idempotent).
void register_train_objective();

}  // namespace oneshot::cli
