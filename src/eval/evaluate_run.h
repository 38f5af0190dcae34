#pragma once
// Evaluating one split of a trained run into its directory: the protocol's
// result (RUN/results/NAME.json + CSV), its figures, the embeddings' PCA and
// the training curves. Loading the run (config, split, weights, features) is
// the caller's: it lives above this library, with the training code.
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "eval/plots.h"
#include "eval/protocols.h"
#include "eval/results.h"
#include "model/siamese.h"

namespace oneshot {

struct SplitEvaluationOptions {
  std::string split = "test";  // the name used in file names and the JSON
  EvalConfig config;
  torch::Device device = torch::kCPU;
  int64_t batch_size = 64;     // clips per encoder call
  bool progress = true;        // embedding progress on stderr
  bool plots = true;
  std::string checkpoint = "best";  // the weights evaluated: "best" or "last" (the "_last" suffix of the names)
};

struct SplitEvaluation {
  std::string name;       // e.g. "test_grid"
  EvalResult result;
  ResultContext context;
  ResultFiles files;
  std::vector<PlotFiles> plots;
};

// Embeds every clip of `classes` once, runs config.protocol, writes
// RUN/results/NAME.{json,_class_accuracy.csv,_confusion.csv}, and (with plots)
// NAME_accuracy, NAME_confusion, SPLIT_embeddings_pca and, when RUN/metrics.csv
// exists, training_curves, each as .png and .svg.
SplitEvaluation evaluate_split(Siamese& model, const FeatureSet& features, const std::vector<int>& classes,
                               const std::filesystem::path& run_dir, const SplitEvaluationOptions& options);

struct VerificationEvaluation {
  std::string name;  // e.g. "test_verification"
  VerificationResult result;
  ResultContext context;
  VerificationFiles files;
  std::vector<PlotFiles> plots;
};

// The verification protocol on `classes`: embeds their clips once and scores
// every pair (eval/protocols.h evaluate_verification). The enrol-one-clip
// task's threshold is `threshold` when given, else fixed at verification.far
// on every pair of the `calibration_classes`' clips (the run's training
// classes; embedded too, and the cohort of verification.scoring's AS-norm
// without centring). Scores are made as verification.scoring says, the
// calibration's alike. Writes RUN/results/NAME.json, NAME_histogram.csv,
// NAME_det.csv and (with plots) NAME_det and NAME_histogram as .png and .svg.
// Throws oneshot::Error when neither a threshold nor 2 calibration classes
// are given.
VerificationEvaluation evaluate_verification_split(Siamese& model, const FeatureSet& features,
                                                   const std::vector<int>& classes,
                                                   const std::vector<int>& calibration_classes,
                                                   std::optional<double> threshold, const std::filesystem::path& run_dir,
                                                   const SplitEvaluationOptions& options,
                                                   const VerificationOptions& verification);

// RUN/results/training_curves.{png,svg} from RUN/metrics.csv; nothing when the
// run has no metrics.csv yet.
std::optional<PlotFiles> plot_run_training_curves(const std::filesystem::path& run_dir);

}  // namespace oneshot
