#include "train/split.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/json_text.h"
#include "train/rng.h"

namespace oneshot {
namespace {

// A count, or a fraction of `available` when below 1: the original's
// class_split kept int(0.9 * n) classes, i.e. gave away n - int(0.9 * n).
std::size_t count_of(double n, std::size_t available) {
  if (n >= 1) return static_cast<std::size_t>(n);
  const double kept = std::floor((1.0 - n) * static_cast<double>(available) + 1e-9);
  return available - static_cast<std::size_t>(kept);
}

std::vector<int> ids_by_name(const std::vector<std::string>& names, const std::vector<std::string>& class_names,
                             const std::vector<int>& present, const std::string& key) {
  std::vector<int> ids;
  for (const auto& name : names) {
    auto it = std::find(class_names.begin(), class_names.end(), name);
    const int id = static_cast<int>(it - class_names.begin());
    if (it == class_names.end() || !std::binary_search(present.begin(), present.end(), id))
      throw Error("config: " + key + " names \"" + name + "\", which is not a class of the dataset");
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      throw Error("config: " + key + " names \"" + name + "\" twice");
    ids.push_back(id);
  }
  return ids;
}

// Takes `count` classes from `pool` by a seeded shuffle: the tail, as the
// original's split kept the head for the larger part.
std::vector<int> draw_classes(std::vector<int>& pool, std::size_t count, std::int64_t seed) {
  Rng rng(static_cast<std::uint64_t>(seed));
  shuffle_in_place(pool, rng);
  std::vector<int> drawn(pool.end() - static_cast<std::ptrdiff_t>(count), pool.end());
  pool.resize(pool.size() - count);
  std::sort(pool.begin(), pool.end());
  std::sort(drawn.begin(), drawn.end());
  return drawn;
}

std::vector<int> remove_all(std::vector<int> from, const std::vector<int>& what) {
  std::erase_if(from, [&](int c) { return std::find(what.begin(), what.end(), c) != what.end(); });
  return from;
}

}  // namespace

std::vector<int> present_classes(const std::vector<int>& labels) {
  std::set<int> s(labels.begin(), labels.end());
  return {s.begin(), s.end()};
}

std::vector<std::size_t> clips_of_classes(const std::vector<int>& labels, const std::vector<int>& classes) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (std::find(classes.begin(), classes.end(), labels[i]) != classes.end()) out.push_back(i);
  return out;
}

namespace {

// What to lower, with counts that split `n_classes` into three non-empty
// parts (a third each for test and validation, the rest, at least 2,
// trains), so a user with a small dataset can copy the settings; with named
// classes, to name fewer.
std::string smaller_split_hint(std::size_t n_classes, const SplitConfig& config) {
  if (n_classes < 4)
    return "; a class-disjoint split needs at least 4 classes (2 training, 1 validation, 1 test), the data has " +
           std::to_string(n_classes);
  if (!config.test_classes.empty() || !config.val_classes.empty())
    return "; name fewer classes in split.test_classes / split.val_classes, or lower the count of the part "
           "not named (split.n_test / split.n_val)";
  const std::size_t third = std::max<std::size_t>(1, n_classes / 3);
  return "; lower split.n_test and split.n_val (counts, or fractions below 1), e.g. --set split.n_test=" +
         std::to_string(third) + " --set split.n_val=" + std::to_string(third);
}

}  // namespace

ClassSplit split_classes(const std::vector<std::string>& class_names, const std::vector<int>& labels,
                         const SplitConfig& config) {
  const std::vector<int> present = present_classes(labels);
  ClassSplit split;
  std::vector<int> pool = present;

  if (!config.test_classes.empty()) {
    split.test = ids_by_name(config.test_classes, class_names, present, "split.test_classes");
    std::sort(split.test.begin(), split.test.end());
    pool = remove_all(pool, split.test);
  } else {
    const std::size_t n = count_of(config.n_test, pool.size());
    if (n > pool.size())
      throw Error("config: split.n_test = " + std::to_string(n) + " exceeds the " + std::to_string(pool.size()) +
                  " classes of the dataset" + smaller_split_hint(present.size(), config));
    split.test = draw_classes(pool, n, config.seed);
  }

  if (!config.val_classes.empty()) {
    split.val = ids_by_name(config.val_classes, class_names, present, "split.val_classes");
    for (int c : split.val)
      if (std::find(split.test.begin(), split.test.end(), c) != split.test.end())
        throw Error("config: class \"" + class_names[c] + "\" is both a test and a validation class");
    std::sort(split.val.begin(), split.val.end());
    pool = remove_all(pool, split.val);
  } else {
    const std::size_t n = count_of(config.n_val, pool.size());
    if (n > pool.size())
      throw Error("config: split.n_val = " + std::to_string(n) + " exceeds the " + std::to_string(pool.size()) +
                  " classes left after the " + std::to_string(split.test.size()) + " test classes of " +
                  std::to_string(present.size()) + smaller_split_hint(present.size(), config));
    split.val = draw_classes(pool, n, config.seed + 2);
  }

  split.train = pool;
  if (split.train.size() < 2)
    throw Error("config: the split leaves " + std::to_string(split.train.size()) + " training class(es) of " +
                std::to_string(present.size()) + "; at least 2 are needed" + smaller_split_hint(present.size(), config));
  return split;
}

ClassSplit split_dataset_classes(const Dataset& dataset, const SplitConfig& config) {
  std::vector<int> labels;
  labels.reserve(dataset.clips.size());
  for (const ClipEntry& clip : dataset.clips) labels.push_back(clip.class_id);
  return split_classes(dataset.class_names, labels, config);
}

std::string ClassSplit::to_json(const std::vector<std::string>& class_names) const {
  auto names = [&](const std::vector<int>& ids) {
    nlohmann::json arr = nlohmann::json::array();
    for (int id : ids) arr.push_back(class_names.at(static_cast<std::size_t>(id)));
    return arr;
  };
  nlohmann::json j;
  j["train"] = names(train);
  j["val"] = names(val);
  j["test"] = names(test);
  return json_text(j, 2) + "\n";
}

ClassSplit ClassSplit::from_json(const std::string& text, const std::vector<std::string>& class_names,
                                 const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(origin + ": not valid JSON: " + e.what());
  }
  std::set<int> seen;
  auto ids = [&](const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_array())
      throw Error(origin + ": missing the list \"" + key + "\"");
    std::vector<int> out;
    for (const auto& item : j[key]) {
      if (!item.is_string()) throw Error(origin + ": \"" + key + "\" must list class names");
      const std::string name = item.get<std::string>();
      auto it = std::find(class_names.begin(), class_names.end(), name);
      if (it == class_names.end()) throw Error(origin + ": class \"" + name + "\" is not in the dataset");
      const int id = static_cast<int>(it - class_names.begin());
      if (!seen.insert(id).second) throw Error(origin + ": class \"" + name + "\" is listed twice");
      out.push_back(id);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ClassSplit split;
  split.train = ids("train");
  split.val = ids("val");
  split.test = ids("test");
  return split;
}

}  // namespace oneshot
