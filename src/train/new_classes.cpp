#include "train/new_classes.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/error.h"
#include "train/augment.h"

namespace oneshot {

std::vector<int> new_class_transforms(const std::string& name) {
  if (name == "reverse") return {kReversed};
  if (name == "shift") return {kShiftedUp, kShiftedDown};
  if (name == "reverse+shift") return {kReversed, kShiftedUp, kShiftedDown};
  throw Error("augment.new_class_transform: \"" + name + "\" is not \"reverse\", \"shift\" or \"reverse+shift\"");
}

std::vector<int> draw_new_classes(TrainStep& step, std::vector<int>& labels, int classes, const AugmentConfig& config,
                                  Rng& rng) {
  std::vector<int> transform(labels.size(), kAsDrawn);
  if (config.new_class <= 0) return transform;
  // Rows of each class, in order of first appearance; (input, position) of each row.
  std::vector<std::pair<std::size_t, std::size_t>> where;
  for (std::size_t i = 0; i < step.inputs.size(); ++i)
    for (std::size_t k = 0; k < step.inputs[i].size(); ++k) where.emplace_back(i, k);
  if (where.size() != labels.size())
    throw Error("new classes: " + std::to_string(labels.size()) + " labels for " + std::to_string(where.size()) +
                " clips");
  std::vector<int> order;
  std::map<int, std::vector<std::size_t>> rows_of;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    if (labels[r] < 0 || labels[r] >= classes)
      throw Error("new classes: label " + std::to_string(labels[r]) + " is outside [0, " + std::to_string(classes) + ")");
    if (rows_of[labels[r]].empty()) order.push_back(labels[r]);
    rows_of[labels[r]].push_back(r);
  }
  std::vector<int> replaced, kept;
  for (int label : order) (uniform01(rng) < config.new_class ? replaced : kept).push_back(label);
  if (kept.empty()) {  // a step keeps at least one class as drawn
    kept.push_back(replaced.front());
    replaced.erase(replaced.begin());
  }
  const std::vector<int> allowed = new_class_transforms(config.new_class_transform);
  std::set<std::pair<int, int>> used;
  const std::vector<std::vector<std::size_t>> original_inputs = step.inputs;
  for (int label : replaced) {
    std::vector<std::pair<int, int>> choices;  // (source, transform) not yet used
    for (int source : kept)
      for (int t : allowed)
        if (!used.count({source, t})) choices.emplace_back(source, t);
    if (choices.empty()) continue;
    const auto [source, t] = choices[uniform_index(rng, choices.size())];
    used.insert({source, t});
    const auto& rows = rows_of[label];
    const auto& from = rows_of[source];
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto [fi, fk] = where[from[k % from.size()]];
      const auto [ri, rk] = where[rows[k]];
      step.inputs[ri][rk] = original_inputs[fi][fk];
      labels[rows[k]] = source + classes * t;
      transform[rows[k]] = t;
    }
  }
  return transform;
}

torch::Tensor transform_clip(const torch::Tensor& clip, int transform, int shift) {
  switch (transform) {
    case kAsDrawn: return clip.clone();
    case kReversed: return clip.flip({-1});
    case kShiftedUp: return shift_bands(clip, shift);
    case kShiftedDown: return shift_bands(clip, -shift);
    default: throw Error("new classes: unknown transform " + std::to_string(transform));
  }
}

}  // namespace oneshot
