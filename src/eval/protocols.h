#pragma once
// One-shot evaluation protocols on unseen classes. Both compute each clip's
// embedding once (eval mode) and then apply only the merge + output layers to
// the pairs they compare, which gives the same decisions as running the whole
// siamese network on every pair, at a fraction of the cost.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "enroll/score_norm.h"
#include "eval/verification.h"
#include "model/siamese.h"

namespace oneshot {

// The clips one protocol works on: indices into a FeatureSet, with their labels.
struct EvalSubset {
  std::vector<std::size_t> clips;  // indices into the FeatureSet
  std::vector<int> labels;         // labels[i] of clips[i] (FeatureSet class ids)
  std::vector<std::string> class_names;  // optional, by FeatureSet id: names in error messages
};

// Every clip of the given FeatureSet classes, in FeatureSet order.
EvalSubset subset_of_classes(const FeatureSet& features, const std::vector<int>& classes);

// Called after each embedding batch with (clips done, clips total).
using EmbedProgress = std::function<void(std::size_t done, std::size_t total)>;

// Embeddings (N, D) of the subset's clips, model in eval mode, no grad, in batches.
// The inputs take the dtype of the model's parameters; the model's training
// mode is restored afterwards (training validates with this every epoch).
torch::Tensor embed_subset(Siamese& model, const FeatureSet& features, const EvalSubset& subset,
                           torch::Device device = torch::kCPU, int64_t batch_size = 64,
                           const EmbedProgress& progress = {});

struct EvalResult {
  std::string protocol;                 // "grid" or "episodes"
  std::vector<int> classes;             // FeatureSet class ids, in table order
  std::vector<double> class_accuracy;   // per class, same order (NaN: class never queried)
  double mean_accuracy = 0;             // mean of class_accuracy (grid) / of episode accuracies (episodes)
  double ci95 = 0;                      // 1.96 * std / sqrt(E) (episodes); 0 for grid
  double std = 0;                       // std of episode accuracies (episodes)
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted], table order
  int64_t decisions = 0;
  double seconds = 0;            // wall time of the whole test, embeddings included where the caller adds them
  double embedding_seconds = 0;  // of which computing the embeddings (set by evaluate_split)
};

// --- grid: the original test -------------------------------------------------
// Rows below are positions in the subset (rows of the embedding matrix).
struct GridPlan {
  std::vector<int> classes;                         // table order: ascending FeatureSet ids
  std::vector<std::vector<std::size_t>> support_sets;  // [set][table class] -> row
  std::vector<std::vector<std::size_t>> queries;       // [table class] -> rows
};

// Each class's clips shuffled (seeded, one generator, classes in table order);
// m = min(20, floor(n / 2)) per class: the first m are support candidates, the
// next m queries; there are min over classes of m support sets (20 with 40+ clips
// everywhere), so every query makes one decision per set: 400 per class.
// Throws oneshot::Error for a class with fewer than 2 clips or fewer than 2 classes.
GridPlan plan_grid(const EvalSubset& subset, std::int64_t seed);

// The original's grid test (see issue 4): per class 20 support candidates and 20 queries
// (floor(n/2) each for smaller classes), seeded shuffle, 400 decisions per class.
EvalResult evaluate_grid(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                         std::int64_t seed);

// --- episodes: N-way K-shot --------------------------------------------------
struct Episode {
  std::vector<int> ways;              // table class of each way
  std::vector<std::size_t> support;   // [way * shots + shot] -> row
  std::vector<std::size_t> queries;   // rows
  std::vector<int> query_way;         // way of each query
};

// N distinct classes per episode, then K + q distinct clips of each class
// (q = min(Q, n - K), so a small class still takes part), support and queries
// disjoint. One seeded generator for the whole sequence of episodes.
// Throws oneshot::Error when there are fewer than N classes or a class has no
// clip left for a query after its K shots.
std::vector<Episode> sample_episodes(const EvalSubset& subset, const EvalConfig& config,
                                     std::vector<int>* table_classes = nullptr);

// N-way K-shot episodes with Q queries per class; mean accuracy and 95% CI.
// K > 1: "mean" or "max" of the K similarities, or "prototype" (the head on
// the mean support embedding).
EvalResult evaluate_episodes(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                             const EvalConfig& config);

// --- verification: every pair of clips, one clip against one clip ----------
// The model's head score (logit) of every ordered pair of rows of
// `embeddings` (N, D), as model->score_matrix computes it (the score the
// class library calibrates with): row-major N x N doubles, in blocks of rows
// so that memory stays bounded for any D.
std::vector<double> pair_score_matrix(Siamese& model, const torch::Tensor& embeddings);

// How the pair scores are made, so that the protocol measures each of a class
// library's settings (README "Your own sounds"; `evaluate --domain split
// --score-norm as-norm`). Default: the head's raw score, as before.
//  - centre_on_split: the evaluated clips stand for the user's recordings, as
//    `enroll --domain` with them would: every embedding is re-centred on their
//    mean, each clip weighing the same (enroll/domain_centre.h recentre_rows,
//    part by part). The training-class calibration is centred on the training
//    clips' own mean, as enroll's calibration is on the validation clips'.
//  - as_norm: each score AS-normalised (enroll/score_norm.h) with both clips'
//    top-K cohort statistics. The cohort: the run's training clips (a library
//    without a domain), or with centre_on_split the evaluated clips themselves
//    (a library with a domain and its cohort; K at most half of them,
//    domain_top_k). The calibration normalises the training clips against
//    themselves. A clip is never its own cohort member.
// Measured on held-out classes in the README ("Verification").
struct VerificationScoring {
  bool centre_on_split = false;
  bool as_norm = false;
  std::size_t cohort_top_k = 100;  // K, as enroll --cohort-top-k
};

struct VerificationOptions {
  double far = 0.05;         // the false-accept rate of frr_at_far and of the enrolment threshold
  int bins = 40;             // score histogram bins
  int enrolled_classes = 0;  // enrol-one-clip task: classes enrolled per draw (0: half, at least 2)
  int draws = 1000;          // enrol-one-clip task: draws (seeded with seed)
  std::int64_t seed = 1;     // eval.seed
  VerificationScoring scoring;  // honoured by evaluate_verification_split
};

// `embeddings` (N, D) re-centred on `centre` (D values) part by part
// (enroll/domain_centre.h recentre_rows with `parts`), as a new float tensor
// on the CPU; the input is left as it is. What a library's domain and
// evaluate --domain split both centre with.
torch::Tensor recentred(const torch::Tensor& embeddings, const std::vector<std::size_t>& parts,
                        const std::vector<float>& centre);

// `embeddings` (N, D) re-centred on their own mean, every row weighing the
// same, each of the model's parts (SiameseImpl::embedding_parts) on its own
// slice (enroll/domain_centre.h recentre_rows). Error for N = 0.
torch::Tensor centred_on_own_mean(Siamese& model, const torch::Tensor& embeddings);

// AS-norm's statistics of every row of `rows` (N, D): the mean and deviation
// of its k highest head scores against the rows of `cohort` (M, D)
// (enroll/score_norm.h top_k_stats; k clipped to the members), the cohort
// other clips than the rows. Error when it has no member.
std::vector<CohortStats> cohort_statistics(Siamese& model, const torch::Tensor& rows, const torch::Tensor& cohort,
                                           std::size_t k);
// The same for clips that are their own cohort, from their (n x n) pair-score
// matrix (pair_score_matrix, which the protocol and the calibration then
// reuse): row i without its diagonal. Error for a matrix of another size or
// n < 2.
std::vector<CohortStats> cohort_statistics_of_pairs(const std::vector<double>& pair_scores, std::size_t n,
                                                    std::size_t k);

// The enrolment threshold fixed on other classes (the run's training
// classes): threshold_at_far of every different-class pair of their clips,
// streamed (FarThresholdTracker), and the FRR of their same-class pairs at it.
struct ThresholdCalibration {
  std::string source;  // "training classes" or "given"
  double far = 0.05;
  double threshold = 0;
  double frr = 0;      // NaN: no same-class pair, or the threshold was given
  std::int64_t classes = 0, clips = 0, target_pairs = 0, nontarget_pairs = 0;
};
// Throws oneshot::Error when the subset has fewer than 2 classes.
// With `stats` (one per clip: cohort_statistics) every pair's score is
// AS-normalised with its two clips' statistics first.
ThresholdCalibration calibrate_on_pairs(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                        double far, const std::vector<CohortStats>& stats = {});
// The same from the clips' (n x n) pair-score matrix (pair_score_matrix),
// already computed when the clips are their own AS-norm cohort
// (cohort_statistics_of_pairs), so that no pair is scored twice. Error for a
// matrix of another size.
ThresholdCalibration calibrate_on_pairs(const std::vector<double>& pair_scores, const EvalSubset& subset, double far,
                                        const std::vector<CohortStats>& stats = {});

struct VerificationResult {
  std::vector<int> classes;  // FeatureSet ids, ascending
  std::int64_t clips = 0;
  VerificationMetrics metrics;       // every pair (i < j) of the subset's clips
  ThresholdCalibration calibration;  // the enrolment task's threshold
  EnrolmentResult enrolment;
  double seconds = 0, embedding_seconds = 0;  // set by the caller, as EvalResult's
};

// Scores every same-class and different-class pair of the subset's clips
// (the head on two clips' embeddings: one clip against one clip, as
// enrolment is), and the enrol-one-clip task at `calibration.threshold`.
// With `stats` (one per clip: cohort_statistics) every score is
// AS-normalised with its two clips' statistics first. Throws oneshot::Error
// for fewer than 2 classes, no same-class pair (every class has one clip), or
// embeddings or statistics that do not match the subset.
VerificationResult evaluate_verification(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                                         const ThresholdCalibration& calibration, const VerificationOptions& options,
                                         const std::vector<CohortStats>& stats = {});
// The same from the subset's (N x N) pair-score matrix (pair_score_matrix),
// for a caller that made it already (the clips' own AS-norm statistics).
VerificationResult evaluate_verification(std::vector<double> pair_scores, const EvalSubset& subset,
                                         const ThresholdCalibration& calibration, const VerificationOptions& options,
                                         const std::vector<CohortStats>& stats = {});

// Dispatches on config.protocol.
EvalResult evaluate(Siamese& model, const torch::Tensor& embeddings, const EvalSubset& subset,
                    const EvalConfig& config);

}  // namespace oneshot
