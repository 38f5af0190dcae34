#pragma once
// The median pruner (as Optuna's MedianPruner, for a loss): from epoch
// `warmup` on, a trial stops when its best value so far is worse than the
// median of the other complete trials' values at the same epoch, once at
// least `min_trials` of them reached that epoch.
#include <span>

namespace oneshot::tune {

struct MedianPruner {
  int warmup_epochs = 3;
  int min_trials = 5;
  bool should_prune(int epoch, double best_so_far, std::span<const double> others_at_epoch) const;
};

double median(std::span<const double> values);  // NaN when empty

}  // namespace oneshot::tune
