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
//                   With train.verification_weight w > 0 the loss adds w x a
//                   binary verification term: z = score - tau, tau the
//                   step's midpoint 1/2 (mean own score + mean other score)
//                   held constant; per query 1/2 [sum_c t_c softplus(-z_c) +
//                   1/(C-1) sum_c (1 - t_c) softplus(z_c)] (BCE with logits,
//                   the own prototype and the mean of the others weighted
//                   alike; t the soft targets), mean over the queries. The
//                   softmax says which prototype is nearest for each query;
//                   this term asks every query's own score to clear one cut
//                   that every other score stays below (issue 17).
//  "aam"          — additive angular margin softmax (ArcFace: Deng et al.
//                   2019, "ArcFace: Additive Angular Margin Loss for Deep Face
//                   Recognition", eq. 3; AAM-softmax of speaker verification,
//                   as wespeaker's ArcMarginProduct) over ALL training classes:
//                   a learned class-weight matrix W (C x K rows of D, each
//                   L2-normalised; ClassWeights, training state owned by the
//                   trainer, never part of best.pt), cos_c = max over the K
//                   sub-centres of <e/|e|, w_ck> (sub-center ArcFace, Deng et
//                   al. 2020), target logit s cos(theta + m) with theta =
//                   acos(cos_y), other logits s cos_c; loss = cross-entropy.
//                   Where theta + m > pi (cos_y <= cos(pi - m)), the target
//                   logit is s (cos_y - m sin(m)), ArcFace's reference "th/mm"
//                   fallback that keeps it decreasing in theta (no easy margin).
//  "aam+prototypical" — prototypical + train.aam_weight x aam on the same
//                   step's embeddings.
//  "supcon"       — supervised contrastive loss, Khosla et al. 2020, L_out
//                   (eq. 2) on the L2-normalised embeddings z of the step:
//                   L_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) /
//                   sum_{a != i} exp(z_i.z_a / t) ), P(i) the other rows of i's
//                   class; loss = the mean of L_i over the rows with a positive
//                   (the reference code's mean, without its t / 0.07 factor).
//  "meta-baseline" — Chen et al. 2021: "aam" with margin 0 (a cosine-softmax
//                   classifier, scale aam_scale) for train.pretrain_epochs
//                   intervals, then "prototypical" episodes.
// Every objective's steps are the P classes x K clips episodes (train.pairs =
// "batch"), except "pairs"'s own pair streams.
//
// With mixup, a mixed clip's target is its own class with weight l and its
// partner's with 1 - l (pairs: the probability that the two mixtures' drawn
// components share a class). Which rows are mixed (mixup_rows): "pairs", "aam"
// and meta-baseline's classification: every row; the episodic objectives: the
// queries only (prototypes stay clean); "supcon": none (a mixed clip has no
// single class to be a positive of). AAM on a mixed row: soft targets, own
// class l and partner's class 1 - l, on the same logits, where the margin is
// applied to the own class only (the partner's logit is s cos); a partner of
// the same class gives the plain one-hot target.
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
                           int shots, const MixPlan& mix = {}, double verification_weight = 0);

// The rows of a step that mixup may mix, for objective `objective` (as
// step_objective below gives it; "pairs" and "aam" and "classification": all).
std::vector<int64_t> mixup_rows(const std::string& objective, const std::vector<int>& labels, int shots);

// The objective of a step of interval `epoch` (from 1): train.objective, but
// "classification" for meta-baseline's first pretrain_epochs intervals and
// "prototypical" afterwards.
std::string step_objective(const std::string& objective, int pretrain_epochs, int epoch);

// The class-weight matrix of the objectives over all training classes: row
// c x subcentres + k is sub-centre k of class c, (classes x subcentres, dim),
// initialised Xavier-uniform from torch's generator. Rows are normalised
// when used, so their length is free.
class ClassWeightsImpl : public torch::nn::Module {
 public:
  ClassWeightsImpl(int64_t classes, int64_t subcentres, int64_t dim);
  // (B, D) embeddings -> (B, classes): the cosine of each row with each class
  // (the max over its sub-centres). Rows of length 0 give cosine 0.
  torch::Tensor cosine(const torch::Tensor& embeddings) const;
  int64_t classes() const { return classes_; }
  int64_t subcentres() const { return subcentres_; }
  torch::Tensor weight;

 private:
  int64_t classes_, subcentres_;
};
TORCH_MODULE(ClassWeights);

// The index 0..C-1 of each label in `classes` (split.train): an Error names a
// label that is not a training class.
std::vector<int64_t> class_indices(const std::vector<int>& labels, const std::vector<int>& classes);

// AAM logits from cosines (B, C) and target indices (B): s cos(theta + m) at
// the target (with the th/mm fallback above), s cos elsewhere.
torch::Tensor aam_logits(const torch::Tensor& cosine, const std::vector<int64_t>& targets, double margin,
                         double scale);

// The AAM loss of `embeddings` (B, D) whose classes are `targets` (0..C-1,
// class_indices). With `mix`, soft targets as above. correct = rows whose
// largest cosine is their own class (no margin); weight = B.
StepLoss aam_loss(const ClassWeights& weights, const torch::Tensor& embeddings, const std::vector<int64_t>& targets,
                  double margin, double scale, const MixPlan& mix = {});

// The supervised contrastive loss of `embeddings` (B, D) with classes
// `labels`, temperature t > 0. correct = rows whose nearest other row (by
// cosine) is of their class; weight = rows with a positive. An Error when no
// row has a positive.
StepLoss supcon_loss(const torch::Tensor& embeddings, const std::vector<int>& labels, double temperature);

// `step` as a PairSource made it; `labels` the class of every embedding row
// (needed only with mixup); loss_kind "bce" or "mse".
StepLoss pairs_loss(Siamese& model, const torch::Tensor& embeddings, const TrainStep& step,
                    const std::string& loss_kind, const std::vector<int>& labels = {}, const MixPlan& mix = {});

}  // namespace oneshot
