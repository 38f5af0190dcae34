#include "tune/pruner.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace oneshot::tune {

double median(std::span<const double> values) {
  if (values.empty()) return std::nan("");
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool MedianPruner::should_prune(int epoch, double best_so_far, std::span<const double> others) const {
  if (epoch < warmup_epochs) return false;
  if (static_cast<int>(others.size()) < min_trials) return false;
  return best_so_far > median(others);
}

}  // namespace oneshot::tune
