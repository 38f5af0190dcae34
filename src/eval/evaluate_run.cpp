#include "eval/evaluate_run.h"

#include <chrono>
#include <memory>

#include "core/clock.h"
#include "core/error.h"
#include "core/progress.h"

namespace oneshot {
namespace fs = std::filesystem;

std::optional<PlotFiles> plot_run_training_curves(const fs::path& run_dir) {
  const fs::path metrics = run_dir / "metrics.csv";
  if (!fs::exists(metrics)) return std::nullopt;
  return plot_training_curves(run_dir / "results" / "training_curves", read_training_curves(metrics));
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
  out.context = ResultContext{options.split, options.config, features.class_names()};
  out.name = result_name(options.split, options.config);
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
