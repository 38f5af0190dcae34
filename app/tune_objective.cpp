#include "tune_objective.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "data/dataset.h"
#include "train/rng.h"
#include "train/split.h"
#include "train/trainer.h"
#include "tune/objectives.h"

namespace oneshot::cli {
namespace {

// A count, or a fraction of `available` when below 1 (as split.n_val reads).
std::size_t count_of(double n, std::size_t available) {
  if (n >= 1) return static_cast<std::size_t>(n);
  const double kept = std::floor((1.0 - n) * static_cast<double>(available) + 1e-9);
  return available - static_cast<std::size_t>(kept);
}

// The dataset's features, from the cache (built when absent or stale).
FeatureSet load_features(const tune::ObjectiveContext& context, bool progress) {
  DatasetOptions dataset_options;
  dataset_options.layout = context.layout;
  dataset_options.esc10 = context.esc10;
  dataset_options.collect_problems = true;  // listed by the feature step with the files it cannot decode
  const Dataset dataset = load_dataset(context.data, dataset_options);
  // A split that does not fit fails before the cache is written into the
  // data directory (as train does); damaged files are listed first.
  // The validation classes carved for tuning too: a tune.n_val that does not
  // fit is named before the cache is built, not after minutes of decoding.
  if (dataset.problems.empty()) (void)carve_tuning_split(split_dataset_classes(dataset, context.config.split), context.config);
  CacheOptions cache;
  cache.cache_dir = context.cache;
  cache.jobs = context.config.train.threads;
  cache.progress = progress;
  return FeatureCache::load_or_build(dataset, context.config.features, cache);
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// Built once per worker process: the features and the split stay loaded and
// every trial trains on them with its own config.
tune::Objective make_train_objective(const tune::ObjectiveContext& context) {
  auto features = std::make_shared<const FeatureSet>(load_features(context, false));
  auto split = std::make_shared<const ClassSplit>(tuning_split(*features, context.config));
  const Config base = context.config;
  return [features, split, base](const tune::Overrides& params, tune::EpochReporter& reporter) {
    const Config config = trial_config(base, params.assignments());
    TrainOptions options;  // no run_dir: nothing written, nothing resumed
    options.progress = false;
    options.split = split.get();
    options.on_epoch = [&reporter](const EpochMetrics& m) { return !reporter.report(m.epoch, 1.0 - m.val_accuracy); };
    const TrainResult result = train(config, *features, options);
    if (result.status == TrainStatus::NonFiniteLoss) throw Error(result.message);
    if (result.epochs_done == 0) throw Error("training stopped before its first epoch: " + result.message);
    return tune::TrialOutcome{1.0 - result.best_accuracy};
  };
}

}  // namespace

ClassSplit tuning_split(const FeatureSet& features, const Config& config) {
  return carve_tuning_split(split_classes(features.class_names(), features.labels(), config.split), config);
}

ClassSplit carve_tuning_split(const ClassSplit& run, const Config& config) {
  std::vector<int> pool = run.train;
  const std::size_t n = count_of(config.tune.n_val, pool.size());
  if (n < 1 || pool.size() < n + 2)
    throw Error("config: tune.n_val = " + format_value(config.tune.n_val) + " gives " + std::to_string(n) +
                " validation class(es) out of the " + std::to_string(pool.size()) +
                " training classes; tuning needs at least 1 and leaves at least 2 to train on");
  Rng rng(static_cast<std::uint64_t>(config.tune.seed));
  shuffle_in_place(pool, rng);
  ClassSplit split;
  split.val.assign(pool.end() - static_cast<std::ptrdiff_t>(n), pool.end());
  split.train.assign(pool.begin(), pool.end() - static_cast<std::ptrdiff_t>(n));
  split.test = run.test;  // recorded only: the trainer never reads the test classes
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.val.begin(), split.val.end());
  return split;
}

Config trial_config(const Config& base, const std::vector<std::string>& assignments) {
  Config config = base;
  for (const auto& a : assignments) config.set(a);
  config.train.epochs = config.tune.max_epochs;
  config.train.patience = config.tune.patience;
  // A trial is short (tune.max_epochs) and pruned on its curve: tune.patience
  // counts from its first interval unless train.min_epochs was set.
  if (!config.was_set("train.min_epochs")) config.train.min_epochs = 0;
  config.validate();
  return config;
}

void register_train_objective() {
  if (tune::find_objective("train")) return;
  tune::ObjectiveInfo info;
  info.description = "train the siamese network; 1 - best validation one-shot accuracy (validation classes carved "
                     "from the training classes)";
  info.make = make_train_objective;
  // Built once before the workers start, so they share one cache file instead of each building it.
  info.prepare = [](const tune::ObjectiveContext& context) {
    const FeatureSet features = load_features(context, true);
    (void)tuning_split(features, context.config);  // a bad split fails here, not in every trial
  };
  tune::register_objective("train", std::move(info));
}

}  // namespace oneshot::cli
