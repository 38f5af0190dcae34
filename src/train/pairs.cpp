#include "train/pairs.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/json_read.h"
#include "train/split.h"

namespace oneshot {
namespace {

// Clip indices grouped by class, classes in ascending id order.
std::vector<std::vector<std::size_t>> group_by_class(const std::vector<std::size_t>& clips,
                                                     const std::vector<int>& labels) {
  std::map<int, std::vector<std::size_t>> groups;
  for (std::size_t c : clips) groups[labels.at(c)].push_back(c);
  std::vector<std::vector<std::size_t>> out;
  for (auto& [label, members] : groups) out.push_back(std::move(members));
  return out;
}

void check_state_kind(const nlohmann::json& state, const char* kind) {
  if (!state.is_object() || state.value("kind", "") != kind)
    throw Error(std::string("pair generator state is not of kind \"") + kind + "\"");
}

}  // namespace

std::size_t TrainStep::n_clips() const {
  std::size_t n = 0;
  for (const auto& in : inputs) n += in.size();
  return n;
}

std::size_t TrainStep::n_positive() const {
  return static_cast<std::size_t>(std::count(target.begin(), target.end(), 1.0f));
}

AnchorCounts anchor_counts(std::size_t n_clips, double amount_of_pairs, double neg_pair_ratio) {
  AnchorCounts c;
  c.positives = std::max(static_cast<int>(static_cast<double>(n_clips) / 2.0 * amount_of_pairs), 1);
  c.negatives = static_cast<int>(c.positives * neg_pair_ratio);
  c.anchors = std::max(static_cast<int>(n_clips) - c.positives, 0);
  return c;
}

std::unique_ptr<PairSource> make_pair_source(const TrainConfig& config, const std::vector<int>& labels,
                                             const std::vector<int>& train_classes) {
  auto clips = clips_of_classes(labels, train_classes);
  if (clips.size() < 2) throw Error("training needs at least 2 clips; the training classes have " +
                                    std::to_string(clips.size()));
  // The pair stream gets its own generator, apart from torch's (dropout, init).
  const std::uint64_t seed = static_cast<std::uint64_t>(config.seed) * 0x9E3779B97F4A7C15ull + 0x7061697273ull;
  if (config.pairs == "anchors")
    return std::make_unique<AnchorPairs>(std::move(clips), labels, config.batch_size, config.amount_of_pairs,
                                         config.neg_pair_ratio, seed);
  if (config.pairs == "batch")
    return std::make_unique<BatchPairs>(std::move(clips), labels, config.classes_per_batch,
                                        config.clips_per_class, config.neg_pair_ratio, config.batch_negatives,
                                        seed);
  throw Error("config: train.pairs = \"" + config.pairs + "\" is not \"anchors\" or \"batch\"");
}

// ---------------------------------------------------------------- anchors

AnchorPairs::AnchorPairs(std::vector<std::size_t> clips, const std::vector<int>& labels, int batch_size,
                         double amount_of_pairs, double neg_pair_ratio, std::uint64_t seed)
    : batch_size_(static_cast<std::size_t>(std::max(batch_size, 1))), rng_(seed) {
  generate(clips, labels, amount_of_pairs, neg_pair_ratio);
  if (pairs_.empty())
    throw Error("the training classes give no anchor pairs (each class needs at least 2 clips)");
}

// The original formed all pairs once: anchors drawn at random without
// replacement from the clips not yet used as anchors, positives and negatives
// drawn from those unused clips too. Counts are per class here (n = that
// class's size), so unequal classes work; the original assumed equal ones.
void AnchorPairs::generate(const std::vector<std::size_t>& clips, const std::vector<int>& labels,
                           double amount_of_pairs, double neg_pair_ratio) {
  auto groups = group_by_class(clips, labels);
  const double max_ratio = static_cast<double>(groups.size()) - 1.0;  // the original clips the ratio
  neg_pair_ratio = std::clamp(neg_pair_ratio, 0.0, max_ratio);
  std::map<int, AnchorCounts> counts;
  std::map<int, std::size_t> unused_in_class;
  std::size_t n_anchors = 0;
  for (const auto& g : groups) {
    const int label = labels[g.front()];
    counts[label] = anchor_counts(g.size(), amount_of_pairs, neg_pair_ratio);
    unused_in_class[label] = g.size();
    n_anchors += static_cast<std::size_t>(counts[label].anchors);
  }

  std::vector<std::size_t> unused = clips;  // the original's shrinking pool
  for (std::size_t a = 0; a < n_anchors; ++a) {
    // An anchor is eligible while its class keeps `positives` other unused clips
    // (the original redrew until it found one: uniform over the eligible).
    std::vector<std::size_t> eligible;
    for (std::size_t i = 0; i < unused.size(); ++i) {
      const int label = labels[unused[i]];
      if (unused_in_class[label] >= static_cast<std::size_t>(counts[label].positives) + 1) eligible.push_back(i);
    }
    const std::size_t pos_in_unused = eligible[uniform_index(rng_, eligible.size())];
    const std::size_t anchor = unused[pos_in_unused];
    const int label = labels[anchor];
    std::vector<std::size_t> same, other;
    for (std::size_t c : unused) {
      if (c == anchor) continue;
      (labels[c] == label ? same : other).push_back(c);
    }
    for (std::size_t p : sample_without_replacement(same, static_cast<std::size_t>(counts[label].positives), rng_))
      pairs_.push_back({anchor, p, true});
    for (std::size_t n : sample_without_replacement(other, static_cast<std::size_t>(counts[label].negatives), rng_))
      pairs_.push_back({anchor, n, false});
    unused.erase(unused.begin() + static_cast<std::ptrdiff_t>(pos_in_unused));
    --unused_in_class[label];
  }
}

// The original's __len__ dropped the pairs of the last partial batch; a set
// smaller than one batch still gives one (short) step.
std::size_t AnchorPairs::steps_per_pass() const { return std::max<std::size_t>(pairs_.size() / batch_size_, 1); }

void AnchorPairs::start_pass() {
  rng_at_pass_start_ = rng_state(rng_);
  order_.resize(pairs_.size());
  for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  shuffle_in_place(order_, rng_);
  cursor_ = 0;
  ++passes_;
  in_pass_ = true;
}

std::size_t AnchorPairs::steps_left_in_pass() {
  if (!in_pass_ || cursor_ >= steps_per_pass()) start_pass();
  return steps_per_pass() - cursor_;
}

TrainStep AnchorPairs::next() {
  steps_left_in_pass();
  const std::size_t begin = cursor_ * batch_size_;
  const std::size_t end = std::min(begin + batch_size_, pairs_.size());
  ++cursor_;
  TrainStep step;
  step.inputs.resize(2);
  const auto n = static_cast<std::int64_t>(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    const Pair& p = pairs_[order_[i]];
    step.inputs[0].push_back(p.a);
    step.inputs[1].push_back(p.b);
    const auto row = static_cast<std::int64_t>(i - begin);
    step.left.push_back(row);
    step.right.push_back(n + row);
    step.target.push_back(p.same ? 1.0f : 0.0f);
    step.weight.push_back(1.0f);
  }
  return step;
}

nlohmann::json AnchorPairs::state() const {
  return {{"kind", "anchors"},          {"n_pairs", pairs_.size()},   {"passes", passes_},
          {"in_pass", in_pass_},        {"cursor", cursor_},          {"rng_at_pass_start", rng_at_pass_start_},
          {"rng", rng_state(rng_)}};
}

void AnchorPairs::restore(const nlohmann::json& s) {
  check_state_kind(s, "anchors");
  if (json_integer_at<std::size_t>(s, "n_pairs") != pairs_.size())
    throw Error("pair generator state has " + std::to_string(json_integer_at<std::size_t>(s, "n_pairs")) +
                " pairs, the training data gives " + std::to_string(pairs_.size()));
  if (s.at("in_pass").get<bool>()) {
    set_rng_state(rng_, s.at("rng_at_pass_start").get<std::string>());
    start_pass();
    cursor_ = json_integer_at<std::size_t>(s, "cursor");
  }
  passes_ = json_integer_at<std::int64_t>(s, "passes");
  set_rng_state(rng_, s.at("rng").get<std::string>());
}

std::string AnchorPairs::describe() const {
  return "anchors: " + std::to_string(pairs_.size()) + " pairs, " + std::to_string(steps_per_pass()) +
         " steps of " + std::to_string(batch_size_) + " pairs a pass";
}

// ---------------------------------------------------------------- batch

BatchPairs::BatchPairs(std::vector<std::size_t> clips, const std::vector<int>& labels, int classes_per_batch,
                       int clips_per_class, double neg_pair_ratio, std::string negatives, std::uint64_t seed)
    : by_class_(group_by_class(clips, labels)), label_of_(labels), neg_pair_ratio_(neg_pair_ratio),
      weighted_(negatives == "weighted"), rng_(seed) {
  if (negatives != "sampled" && negatives != "weighted")
    throw Error("config: train.batch_negatives = \"" + negatives + "\" is not \"sampled\" or \"weighted\"");
  if (by_class_.size() < 2) throw Error("in-batch pairs need at least 2 training classes");
  // Shrink P and K to the data: at most every class, at most the largest class.
  std::size_t largest = 0;
  for (const auto& g : by_class_) largest = std::max(largest, g.size());
  p_ = std::min(classes_per_batch, static_cast<int>(by_class_.size()));
  k_ = std::min(clips_per_class, static_cast<int>(largest));
}

// A pass: each class's clips shuffled and cut into chunks of K (a short last
// chunk is topped up from the same class so it still holds min(K, n) clips).
// Each step takes one chunk from each of the P classes with the most chunks
// left (ties in random order), so classes run out together and steps keep P
// distinct classes to the end; a step left with one class borrows K random
// clips of another class for its negatives.
void BatchPairs::start_pass() {
  rng_at_pass_start_ = rng_state(rng_);
  const auto k = static_cast<std::size_t>(k_);
  std::vector<std::vector<std::vector<std::size_t>>> chunks(by_class_.size());  // [class][chunk] -> clips
  for (std::size_t c = 0; c < by_class_.size(); ++c) {
    std::vector<std::size_t> clips = by_class_[c];
    shuffle_in_place(clips, rng_);
    for (std::size_t begin = 0; begin < clips.size(); begin += k) {
      const std::size_t end = std::min(begin + k, clips.size());
      std::vector<std::size_t> chunk(clips.begin() + static_cast<std::ptrdiff_t>(begin),
                                     clips.begin() + static_cast<std::ptrdiff_t>(end));
      if (chunk.size() < k && begin > 0) {
        const std::vector<std::size_t> earlier(clips.begin(), clips.begin() + static_cast<std::ptrdiff_t>(begin));
        for (std::size_t extra : sample_without_replacement(earlier, k - chunk.size(), rng_)) chunk.push_back(extra);
      }
      chunks[c].push_back(std::move(chunk));
    }
  }

  plan_.clear();
  std::vector<std::size_t> order(by_class_.size());
  for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
  while (true) {
    shuffle_in_place(order, rng_);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return chunks[a].size() > chunks[b].size(); });
    std::vector<std::size_t> step;
    std::size_t classes = 0;
    for (std::size_t c : order) {
      if (classes == static_cast<std::size_t>(p_) || chunks[c].empty()) break;
      step.insert(step.end(), chunks[c].back().begin(), chunks[c].back().end());
      chunks[c].pop_back();
      ++classes;
    }
    if (classes == 0) break;
    if (classes == 1) {  // the others ran out: borrow negatives
      const int own = label_of_[step.front()];
      std::vector<std::size_t> others;
      for (const auto& g : by_class_)
        if (label_of_[g.front()] != own) others.push_back(static_cast<std::size_t>(&g - by_class_.data()));
      const auto& g = by_class_[others[uniform_index(rng_, others.size())]];
      for (std::size_t clip : sample_without_replacement(g, k, rng_)) step.push_back(clip);
    }
    plan_.push_back(std::move(step));
  }
  cursor_ = 0;
  ++passes_;
  in_pass_ = true;
}

std::size_t BatchPairs::steps_left_in_pass() {
  if (!in_pass_ || cursor_ >= plan_.size()) start_pass();
  return plan_.size() - cursor_;
}

TrainStep BatchPairs::next() {
  steps_left_in_pass();
  return make_step(plan_[cursor_++]);
}

// Every positive pair of the step's clips; negatives sampled at neg_pair_ratio
// per positive, or all of them with weights summing to that ratio.
TrainStep BatchPairs::make_step(const std::vector<std::size_t>& clips) {
  TrainStep step;
  step.inputs.push_back(clips);
  std::vector<std::pair<std::int64_t, std::int64_t>> negatives;
  for (std::size_t i = 0; i < clips.size(); ++i)
    for (std::size_t j = i + 1; j < clips.size(); ++j) {
      const auto a = static_cast<std::int64_t>(i), b = static_cast<std::int64_t>(j);
      if (label_of_[clips[i]] == label_of_[clips[j]]) {
        step.left.push_back(a);
        step.right.push_back(b);
        step.target.push_back(1.0f);
        step.weight.push_back(1.0f);
      } else {
        negatives.emplace_back(a, b);
      }
    }
  const std::size_t n_pos = step.target.size();
  float neg_weight = 1.0f;
  if (n_pos > 0 && weighted_) {
    neg_weight = static_cast<float>(neg_pair_ratio_ * static_cast<double>(n_pos) / static_cast<double>(negatives.size()));
  } else if (n_pos > 0) {
    // At most every negative: a huge train.neg_pair_ratio must not reach llround unbounded.
    const double ratio_wanted = std::round(neg_pair_ratio_ * static_cast<double>(n_pos));
    const auto wanted = ratio_wanted >= static_cast<double>(negatives.size()) ? negatives.size()
                                                                                : static_cast<std::size_t>(ratio_wanted);
    negatives = sample_without_replacement(std::move(negatives), wanted, rng_);
  }
  for (const auto& [a, b] : negatives) {
    step.left.push_back(a);
    step.right.push_back(b);
    step.target.push_back(0.0f);
    step.weight.push_back(neg_weight);
  }
  return step;
}

nlohmann::json BatchPairs::state() const {
  return {{"kind", "batch"},       {"passes", passes_}, {"in_pass", in_pass_}, {"cursor", cursor_},
          {"rng_at_pass_start", rng_at_pass_start_}, {"rng", rng_state(rng_)}};
}

void BatchPairs::restore(const nlohmann::json& s) {
  check_state_kind(s, "batch");
  if (s.at("in_pass").get<bool>()) {
    set_rng_state(rng_, s.at("rng_at_pass_start").get<std::string>());
    start_pass();
    cursor_ = json_integer_at<std::size_t>(s, "cursor");
    if (cursor_ > plan_.size()) throw Error("pair generator state does not fit the training data");
  }
  passes_ = json_integer_at<std::int64_t>(s, "passes");
  set_rng_state(rng_, s.at("rng").get<std::string>());
}

std::string BatchPairs::describe() const {
  std::size_t clips = 0;
  for (const auto& g : by_class_) clips += g.size();
  return "batch: " + std::to_string(p_) + " classes x " + std::to_string(k_) + " clips a step, " +
         std::to_string(by_class_.size()) + " classes, " + std::to_string(clips) + " clips, negatives " +
         (weighted_ ? "all, weighted" : "sampled");
}

}  // namespace oneshot
