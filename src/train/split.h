#pragma once
// Class-disjoint splits: training, validation and test classes never share a
// clip's class, so validation and test measure one-shot learning of classes
// the network has never seen.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"

namespace oneshot {

struct ClassSplit {
  // FeatureSet class ids, each list sorted ascending.
  std::vector<int> train, val, test;

  // {"train": [names], "val": [...], "test": [...]}: by name, so a split
  // survives class ids being renumbered (another layout, ESC-10 subset).
  std::string to_json(const std::vector<std::string>& class_names) const;
  // Inverse of to_json; a name not in class_names, a class listed twice, or
  // malformed JSON is an Error naming `origin` (the file).
  static ClassSplit from_json(const std::string& text, const std::vector<std::string>& class_names,
                              const std::string& origin);
};

// The classes present in `labels` (ids with at least one clip), ascending.
std::vector<int> present_classes(const std::vector<int>& labels);

// Splits the present classes as the original did: a seeded shuffle takes the
// test classes (seed split.seed), a second seeded shuffle of the rest takes
// the validation classes (seed split.seed + 2: the original's seeds 1 and 3),
// the remainder trains. Counts below 1 are fractions (test: of all classes;
// validation: of the classes left after test, as the original's second 0.9
// split); explicit split.test_classes / val_classes name the classes instead.
// Errors: an unknown or repeated class name, a class both in test and
// validation, or fewer than 2 training classes left.
ClassSplit split_classes(const std::vector<std::string>& class_names, const std::vector<int>& labels,
                         const SplitConfig& config);

// split_classes of a dataset's clips before any feature is computed (its
// errors, the same), so that a split that does not fit fails before the
// feature cache is written.
ClassSplit split_dataset_classes(const Dataset& dataset, const SplitConfig& config);

// Clip indices whose label is in `classes`, ascending.
std::vector<std::size_t> clips_of_classes(const std::vector<int>& labels, const std::vector<int>& classes);

}  // namespace oneshot
