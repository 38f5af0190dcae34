#pragma once
// Training pairs. A PairSource yields one optimizer step at a time: the clips
// to encode and the pairs to score between their embeddings.
//
//  "anchors" — the original's PairGenerator: a fixed set of pairs formed once
//   from the seed (per anchor n_pos positives and n_neg negatives), their
//   order reshuffled every pass, batch_size pairs a step; both clips of every
//   pair are encoded, in two encoder calls (the original's two model inputs).
//  "batch" — P classes x K clips a step, each clip encoded once, pairs formed
//   between the embeddings: every positive pair, negatives sampled at
//   neg_pair_ratio or all of them weighted. A pass draws each clip about once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "train/rng.h"

namespace oneshot {

struct TrainStep {
  // FeatureSet clip indices, one list per encoder call; the embeddings of all
  // calls are concatenated in this order.
  std::vector<std::vector<std::size_t>> inputs;
  // Pair endpoints as rows of the concatenated embeddings.
  std::vector<std::int64_t> left, right;
  std::vector<float> target;  // 1 = same class, 0 = different classes
  std::vector<float> weight;  // loss weight of each pair

  std::size_t n_pairs() const { return target.size(); }
  std::size_t n_clips() const;
  std::size_t n_positive() const;
};

class PairSource {
 public:
  virtual ~PairSource() = default;
  // The next step; a new pass (reshuffle / re-plan) starts when one ends.
  virtual TrainStep next() = 0;
  // Steps left in the current pass, starting a new pass first when the
  // current one is done (so at a pass boundary this is a whole pass).
  virtual std::size_t steps_left_in_pass() = 0;
  // Position in the random stream and in the pass, enough to continue exactly.
  virtual nlohmann::json state() const = 0;
  // Throws oneshot::Error when the state does not fit this source.
  virtual void restore(const nlohmann::json& state) = 0;
  // One line for logs: mode, pairs and steps per pass.
  virtual std::string describe() const = 0;
};

// The training clips of `train_classes` (labels: FeatureSet labels of all clips).
std::unique_ptr<PairSource> make_pair_source(const TrainConfig& config, const std::vector<int>& labels,
                                             const std::vector<int>& train_classes);

// The original's per-anchor arithmetic for a class of n clips.
struct AnchorCounts {
  int positives = 0;  // max(int(n / 2 * amount_of_pairs), 1)
  int negatives = 0;  // int(positives * neg_pair_ratio)
  int anchors = 0;    // n - positives: an anchor needs `positives` unused partners
};
AnchorCounts anchor_counts(std::size_t n_clips, double amount_of_pairs, double neg_pair_ratio);

class AnchorPairs : public PairSource {
 public:
  // clips: training clip indices; labels: FeatureSet labels of all clips.
  AnchorPairs(std::vector<std::size_t> clips, const std::vector<int>& labels, int batch_size,
              double amount_of_pairs, double neg_pair_ratio, std::uint64_t seed);
  TrainStep next() override;
  std::size_t steps_left_in_pass() override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  std::string describe() const override;

  struct Pair {
    std::size_t a, b;
    bool same;
  };
  // The fixed pair set, in generation order (anchor, its positives, its negatives).
  const std::vector<Pair>& pairs() const { return pairs_; }
  std::size_t steps_per_pass() const;

 private:
  void generate(const std::vector<std::size_t>& clips, const std::vector<int>& labels, double amount_of_pairs,
                double neg_pair_ratio);
  void start_pass();
  std::vector<Pair> pairs_;
  std::size_t batch_size_;
  Rng rng_;
  std::string rng_at_pass_start_;
  std::vector<std::size_t> order_;
  std::size_t cursor_ = 0;  // steps done in the current pass
  std::int64_t passes_ = 0;
  bool in_pass_ = false;
};

class BatchPairs : public PairSource {
 public:
  // negatives: "sampled" (round(neg_pair_ratio x positives), weight 1) or
  // "weighted" (all, total weight neg_pair_ratio x positives).
  BatchPairs(std::vector<std::size_t> clips, const std::vector<int>& labels, int classes_per_batch,
             int clips_per_class, double neg_pair_ratio, std::string negatives, std::uint64_t seed);
  TrainStep next() override;
  std::size_t steps_left_in_pass() override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  std::string describe() const override;

  int classes_per_step() const { return p_; }  // P after shrinking to the data
  int clips_per_step_class() const { return k_; }  // K after shrinking

 private:
  void start_pass();
  TrainStep make_step(const std::vector<std::size_t>& clips);
  std::vector<std::vector<std::size_t>> by_class_;  // training clips of each class
  std::vector<int> label_of_;                       // FeatureSet label by clip index (all clips)
  int p_, k_;
  double neg_pair_ratio_;
  bool weighted_;
  Rng rng_;
  std::string rng_at_pass_start_;
  std::vector<std::vector<std::size_t>> plan_;  // the current pass: clips of each step
  std::size_t cursor_ = 0;
  std::int64_t passes_ = 0;
  bool in_pass_ = false;
};

}  // namespace oneshot
