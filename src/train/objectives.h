#pragma once
// Training objectives on the embeddings of one step (train.objective).
//  "pairs"        — the original siamese loss: the head's logit on each pair,
//                   BCE-with-logits ("bce") or (sigmoid - target)^2 ("mse"),
//                   weighted by the pair weights.
//  "prototypical" — Snell et al. 2017 on the step's P classes x K clips: per
//                   class the first S clips (train.support_shots) are the
//                   support, their mean embedding the prototype; every other
//                   clip is a query; loss = cross-entropy of the softmax over
//                   the head's scores of the query against each prototype
//                   (for the "distance" head: -s |q - c|^2 + b).
// With mixup, a mixed clip's target is its own class with weight l and its
// partner's with 1 - l (pairs: the probability that the two mixtures' drawn
// components share a class).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/siamese.h"
#include "train/augment.h"
#include "train/pairs.h"

namespace oneshot {

struct StepLoss {
  torch::Tensor loss;   // scalar, differentiable
  double correct = 0;   // weighted decisions that were right (argmax class / logit sign)
  double weight = 0;    // total weight of the decisions
};

// The support / query roles of a step's rows: classes in order of first
// appearance; the first `shots` rows of each class are support. A class with
// no row left for a query still gives a prototype.
struct EpisodeRoles {
  std::vector<int> classes;                       // label of each prototype
  std::vector<std::vector<int64_t>> support;      // [prototype] -> rows
  std::vector<int64_t> queries;                   // rows
  std::vector<int64_t> query_class;               // prototype index of each query
};
EpisodeRoles episode_roles(const std::vector<int>& row_labels, int shots);

// labels: the class of every row of `embeddings`; `mix` from mixup_clips (or empty).
StepLoss prototypical_loss(Siamese& model, const torch::Tensor& embeddings, const std::vector<int>& labels,
                           int shots, const MixPlan& mix = {});

// `step` as a PairSource made it; `labels` the class of every embedding row
// (needed only with mixup); loss_kind "bce" or "mse".
StepLoss pairs_loss(Siamese& model, const torch::Tensor& embeddings, const TrainStep& step,
                    const std::string& loss_kind, const std::vector<int>& labels = {}, const MixPlan& mix = {});

}  // namespace oneshot
