#include "eval/evaluate_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "core/clock.h"
#include "core/error.h"
#include "core/progress.h"
#include "enroll/domain_centre.h"

namespace oneshot {
namespace fs = std::filesystem;

std::optional<PlotFiles> plot_run_training_curves(const fs::path& run_dir) {
  const fs::path metrics = run_dir / "metrics.csv";
  if (!fs::exists(metrics)) return std::nullopt;
  return plot_training_curves(run_dir / "results" / "training_curves", read_training_curves(metrics));
}

namespace {

torch::Tensor embed_with_progress(Siamese& model, const FeatureSet& features, const EvalSubset& subset,
                                  const std::string& what, const SplitEvaluationOptions& options) {
  Progress progress("embedding " + what, subset.clips.size(), options.progress);
  std::size_t reported = 0;
  auto embeddings = embed_subset(model, features, subset, options.device, options.batch_size,
                                 [&](std::size_t done, std::size_t) {
                                   progress.advance(done - reported);
                                   reported = done;
                                 });
  progress.finish();
  return embeddings;
}

}  // namespace

VerificationEvaluation evaluate_verification_split(Siamese& model, const FeatureSet& features,
                                                   const std::vector<int>& classes,
                                                   const std::vector<int>& calibration_classes,
                                                   std::optional<double> threshold, const fs::path& run_dir,
                                                   const SplitEvaluationOptions& options,
                                                   const VerificationOptions& verification) {
  const EvalSubset subset = subset_of_classes(features, classes);
  if (subset.clips.empty()) throw Error("evaluate: the " + options.split + " split has no clips");
  const VerificationScoring& scoring = verification.scoring;
  const auto start = SteadyClock::now();
  double embedding_seconds = 0;
  // The training clips: the threshold's pairs, and the cohort of AS-norm without a domain.
  const bool cohort_of_training = scoring.as_norm && !scoring.centre_on_split;
  const EvalSubset training = subset_of_classes(features, calibration_classes);
  // AS-norm's K for n clips that are their own cohort: a domain's (at most
  // half of them) when centred on them, else the given K.
  auto self_cohort_k = [&](std::size_t n) {
    return scoring.centre_on_split ? domain_top_k(scoring.cohort_top_k, n) : scoring.cohort_top_k;
  };
  torch::Tensor train_embeddings;
  if (!threshold || cohort_of_training) {
    if (!threshold && calibration_classes.size() < 2)
      throw Error("evaluate: the enrol-one-clip threshold is fixed on the run's training classes, and it has " +
                  std::to_string(calibration_classes.size()) + "; give one with --threshold");
    if (training.clips.size() < 2)
      throw Error("evaluate: AS-norm without --domain normalises against the run's training clips, and it has " +
                  std::to_string(training.clips.size()));
    const auto t0 = SteadyClock::now();
    train_embeddings = embed_with_progress(model, features, training, "training clips", options);
    embedding_seconds += seconds_since(t0);
  }
  ThresholdCalibration calibration;
  if (threshold) {
    calibration.source = "given";
    calibration.far = verification.far;
    calibration.threshold = *threshold;
    calibration.frr = std::nan("");
  } else {
    // The training clips scored as the evaluated ones are: centred on their
    // own mean, normalised against themselves.
    const torch::Tensor calibrated =
        scoring.centre_on_split ? centred_on_own_mean(model, train_embeddings) : train_embeddings;
    if (scoring.as_norm) {  // the clips are their own cohort: their pairs scored once, for both
      const std::vector<double> pairs = pair_score_matrix(model, calibrated);
      calibration = calibrate_on_pairs(
          pairs, training, verification.far,
          cohort_statistics_of_pairs(pairs, training.clips.size(), self_cohort_k(training.clips.size())));
    } else {
      calibration = calibrate_on_pairs(model, calibrated, training, verification.far);
    }
  }
  const auto t1 = SteadyClock::now();
  torch::Tensor embeddings = embed_with_progress(model, features, subset, options.split + " clips", options);
  embedding_seconds += seconds_since(t1);
  if (scoring.centre_on_split) embeddings = centred_on_own_mean(model, embeddings);
  // The pairs are scored once: they are the protocol's scores and, when the
  // clips are their own cohort, AS-norm's cohort scores too.
  std::vector<double> pairs = pair_score_matrix(model, embeddings);
  std::vector<CohortStats> stats;
  if (scoring.as_norm)
    stats = scoring.centre_on_split
                ? cohort_statistics_of_pairs(pairs, subset.clips.size(), self_cohort_k(subset.clips.size()))
                : cohort_statistics(model, embeddings, train_embeddings, scoring.cohort_top_k);

  VerificationEvaluation out;
  out.result = evaluate_verification(std::move(pairs), subset, calibration, verification, stats);
  out.result.embedding_seconds = embedding_seconds;
  out.result.seconds = seconds_since(start);
  out.context = ResultContext{options.split, options.config, features.class_names(), options.checkpoint};
  out.name = verification_result_name(options.split, options.checkpoint, scoring);
  const fs::path results_dir = run_dir / "results";
  out.files = write_verification_result(results_dir, out.name, out.result, out.context, verification);
  if (!options.plots) return out;
  const auto& m = out.result.metrics;
  out.plots.push_back(plot_det_curve(results_dir / (out.name + "_det"), m.curve, m.eer, m.at_far, m.auroc));
  char far_buf[32];
  std::snprintf(far_buf, sizeof far_buf, "%g", 100 * verification.far);
  const std::string far = far_buf;
  std::vector<std::pair<std::string, double>> lines{{"threshold at " + far + "% FAR", m.at_far.threshold}};
  lines.emplace_back(calibration.source == "given" ? "enrolment threshold (given)"
                                                   : "enrolment threshold (" + far + "% FAR on training classes)",
                     calibration.threshold);
  out.plots.push_back(plot_score_histogram(results_dir / (out.name + "_histogram"), m.histogram, lines));
  return out;
}

SplitEvaluation evaluate_split(Siamese& model, const FeatureSet& features, const std::vector<int>& classes,
                               const fs::path& run_dir, const SplitEvaluationOptions& options) {
  options.config.validate();
  const EvalSubset subset = subset_of_classes(features, classes);
  if (subset.clips.empty()) throw Error("evaluate: the " + options.split + " split has no clips");

  const auto start = SteadyClock::now();
  torch::Tensor embeddings;
  {
    Progress progress("embedding " + options.split + " clips", subset.clips.size(), options.progress);
    std::size_t reported = 0;
    embeddings = embed_subset(model, features, subset, options.device, options.batch_size,
                              [&](std::size_t done, std::size_t) {
                                progress.advance(done - reported);
                                reported = done;
                              });
    progress.finish();
  }

  const double embedding_seconds = seconds_since(start);
  SplitEvaluation out;
  out.result = evaluate(model, embeddings, subset, options.config);
  // The test's time is the user's wait: the encoder passes and the protocol.
  out.result.embedding_seconds = embedding_seconds;
  out.result.seconds = seconds_since(start);
  out.context = ResultContext{options.split, options.config, features.class_names(), options.checkpoint};
  out.name = result_name(options.split, options.config, options.checkpoint);
  const fs::path results_dir = run_dir / "results";
  out.files = write_result(results_dir, out.name, out.result, out.context);
  if (!options.plots) return out;

  const auto names = table_class_names(out.result, features.class_names());
  out.plots.push_back(plot_class_accuracy(results_dir / (out.name + "_accuracy"), names, out.result.class_accuracy,
                                          out.result.mean_accuracy, out.result.ci95));
  out.plots.push_back(plot_confusion(results_dir / (out.name + "_confusion"), names, out.result.confusion));
  out.plots.push_back(plot_embeddings_pca(results_dir / (options.split + "_embeddings_pca"), embeddings,
                                          subset.labels, features.class_names(),
                                          "Embeddings of the " + options.split + " clips (PCA)"));
  if (auto curves = plot_run_training_curves(run_dir)) out.plots.push_back(*curves);
  return out;
}

}  // namespace oneshot
