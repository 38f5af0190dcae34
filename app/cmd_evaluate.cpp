// oneshot-audio evaluate: the one-shot test of a trained run on its unseen
// classes, from the run directory alone (it records its data, cache, config,
// split and weights), into RUN/results/ and RUN/report.html.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "enroll/score_norm.h"
#include "eval/evaluate_run.h"
#include "eval/report.h"
#include "eval/results.h"
#include "model/runtime.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/split.h"

namespace oneshot::cli {
namespace fs = std::filesystem;

namespace {


VerificationScoring scoring_of(const EvaluateArgs& args) {
  return VerificationScoring{args.domain_split, args.as_norm, args.cohort_top_k};
}

// Command-line flags win over --set and the run's config.toml.
void apply_flags(const EvaluateArgs& args, Config& config) {
  // "verification" is a protocol of this command only (not an eval.protocol value).
  if (!args.protocol.empty() && args.protocol != "verification") config.eval.protocol = args.protocol;
  if (!args.aggregate.empty()) config.eval.aggregate = args.aggregate;
  if (args.ways > 0) config.eval.ways = args.ways;
  if (args.shots > 0) config.eval.shots = args.shots;
  if (args.queries > 0) config.eval.queries = args.queries;
  if (args.episodes > 0) config.eval.episodes = args.episodes;
  if (args.seed >= 0) config.eval.seed = args.seed;
  if (args.threads >= 0) config.train.threads = args.threads;
  if (!args.device.empty()) config.train.device = args.device;
  config.validate();
}

FeatureSet load_run_features(const RunInfo& info, const Config& config, bool quiet) {
  FeatureSet features = load_run_features(info, config.features, config.train.threads, !quiet);
  if (static_cast<std::int64_t>(features.n_clips()) != info.n_clips && info.n_clips > 0)
    std::cerr << "note: the dataset now has " << features.n_clips() << " clips, the run was trained on "
              << info.n_clips << "\n";
  return features;
}

std::string result_name_of(const EvaluateArgs& args, const Config& config) {
  return args.protocol == "verification" ? verification_result_name(args.split, args.weights, scoring_of(args))
                                         : result_name(args.split, config.eval, args.weights);
}

// The figures named after this evaluation's result (PNG and SVG): those of an
// earlier evaluation of the same result describe other numbers.
std::vector<fs::path> result_figures(const EvaluateArgs& args, const Config& config) {
  const fs::path results = fs::path(args.run) / "results";
  const std::string name = result_name_of(args, config);
  std::vector<fs::path> out;
  for (const char* figure : args.protocol == "verification" ? std::vector<const char*>{"_det", "_histogram"}
                                                            : std::vector<const char*>{"_accuracy", "_confusion"})
    for (const char* ext : {".png", ".svg"}) out.push_back(results / (name + figure + ext));
  return out;
}

// Every file this evaluation writes, checked before any work: a read-only
// report.html was found only after results/*.json had been overwritten.
void check_outputs(const EvaluateArgs& args, const Config& config) {
  const fs::path results = fs::path(args.run) / "results";
  const std::string name = result_name_of(args, config);
  std::vector<fs::path> outputs{fs::path(args.run) / "report.html"};
  const std::vector<std::string> tables = args.protocol == "verification"
                                              ? std::vector<std::string>{".json", "_histogram.csv", "_det.csv"}
                                              : std::vector<std::string>{".json", "_class_accuracy.csv", "_confusion.csv"};
  for (const auto& t : tables) outputs.push_back(results / (name + t));
  if (!args.no_plots) {
    for (const auto& f : result_figures(args, config)) outputs.push_back(f);
    if (args.protocol != "verification")
      for (const std::string& p : {args.split + "_embeddings_pca", std::string("training_curves")})
        for (const char* ext : {".png", ".svg"}) outputs.push_back(results / (p + ext));
  }
  for (const auto& path : outputs) check_output_path(path, OutputRules{.streaming = false});
}

// --no-plots: the result's figures from an earlier evaluation would stand in
// the report beside the new numbers (a break test saw them there); removed
// once the new result is written. The run's other figures (training curves,
// the split's embeddings) are not this result's and stay.
void remove_earlier_figures(const EvaluateArgs& args, const Config& config) {
  if (!args.no_plots) return;
  for (const auto& f : result_figures(args, config)) {
    std::error_code ec;
    if (fs::remove(f, ec)) std::cerr << "note: removed " << f.string() << " (an earlier evaluation's figure)\n";
    else if (ec) throw file_error(f, "an earlier evaluation's figure, which --no-plots removes, cannot be removed: " +
                                         ec.message());
  }
}

}  // namespace

int run_evaluate(const EvaluateArgs& args) {
  const RunPaths paths{args.run};
  check_output_directory(args.run);  // results, plots and the report are written into it
  if (!fs::exists(paths.config())) throw file_error(paths.config(), "missing: is this a run directory (train --run)?");
  Config config = load_resumed_config(paths.config(), args.config.file, args.config.overrides);
  apply_flags(args, config);
  check_outputs(args, config);

  const RunInfo info = RunInfo::load(paths.info());
  const FeatureSet features = load_run_features(info, config, args.quiet);
  const ClassSplit split =
      ClassSplit::from_json(read_run_file(paths.split()), features.class_names(), paths.split().string());
  const std::vector<int>& classes = args.split == "val" ? split.val : split.test;
  if (classes.empty()) throw file_error(paths.split(), "the " + args.split + " split has no classes");
  // Before the model loads and every clip is embedded (it was refused only after that).
  if (args.protocol == "verification" && args.enrol_classes > static_cast<int>(classes.size()))
    throw Error("--enrol-classes " + std::to_string(args.enrol_classes) + ": the " + args.split + " split has " +
                std::to_string(classes.size()) + " classes (" + paths.split().string() + "); give at most " +
                std::to_string(classes.size()));

  configure_runtime(config.train.threads);
  if (const std::string warning = blas_warning(blas_in_use()); !warning.empty()) std::cerr << warning << "\n";
  const torch::Device device = parse_device(config.train.device);
  Siamese model(config.model, static_cast<int64_t>(features.n_mels()), static_cast<int64_t>(features.n_frames()));
  const fs::path weights = args.weights == "last" ? paths.last() : paths.best();
  if (!fs::exists(weights)) throw file_error(weights, "missing: train the run first");
  load_best_weights(weights, model);
  model->to(device);
  if (device.is_cpu()) convert_to_channels_last(*model);  // about twice the CPU inference speed

  SplitEvaluationOptions options;
  options.split = args.split;
  options.config = config.eval;
  options.device = device;
  options.progress = !args.quiet;
  options.plots = !args.no_plots;
  options.checkpoint = args.weights;
  if (args.protocol == "verification") {
    VerificationOptions verification;
    verification.far = args.far;
    verification.enrolled_classes = args.enrol_classes;
    verification.draws = args.draws;
    verification.seed = config.eval.seed;
    verification.scoring = scoring_of(args);
    const auto evaluation = evaluate_verification_split(
        model, features, classes, split.train,
        args.has_threshold ? std::optional<double>(args.threshold) : std::nullopt, args.run, options, verification);
    std::cout << format_verification_table(evaluation.result, evaluation.context, verification);
    remove_earlier_figures(args, config);
    const fs::path report = write_report(args.run);
    std::cout << "results: " << evaluation.files.json.string() << "\nreport: " << report.string() << std::endl;
    return 0;
  }
  const SplitEvaluation evaluation = evaluate_split(model, features, classes, args.run, options);
  std::cout << format_result_table(evaluation.result, evaluation.context);
  remove_earlier_figures(args, config);
  const fs::path report = write_report(args.run);
  std::cout << "results: " << evaluation.files.json.string() << "\nreport: " << report.string() << std::endl;
  return 0;
}

void add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  auto* cmd = app.add_subcommand("evaluate", "One-shot test of a trained run on its unseen classes");
  cmd->add_option("--run", args->run, "Run directory written by train")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--split", args->split, "Classes to test: test or val")->check(CLI::IsMember({"test", "val"}));
  cmd->add_option("--protocol", args->protocol,
                  "grid (the original test) or episodes (set eval.protocol), or verification (every pair of "
                  "clips: EER, false rejects at --far, AUROC, and the enrol-one-clip task)")
      ->check(CLI::IsMember({"grid", "episodes", "verification"}));
  cmd->add_option("--ways", args->ways, "Classes per episode (eval.ways)")->check(WholeNumber(1, kIntMax));
  cmd->add_option("--shots", args->shots, "Support clips per class (eval.shots)")->check(WholeNumber(1, kIntMax));
  cmd->add_option("--queries", args->queries, "Queries per class and episode (eval.queries)")
      ->check(WholeNumber(1, kIntMax));
  cmd->add_option("--episodes", args->episodes, "Number of episodes (eval.episodes)")->check(WholeNumber(1, kIntMax));
  cmd->add_option("--aggregate", args->aggregate, "K > 1: mean, max or prototype (eval.aggregate)")
      ->check(CLI::IsMember({"mean", "max", "prototype"}));
  cmd->add_option("--seed", args->seed, "Seed of the shuffles and episodes (eval.seed)")
      ->check(WholeNumber(0, kIntMax));
  cmd->add_option("--checkpoint,--weights", args->weights,
                  "best (best.pt) or last (last.pt's model); last adds _last to the result names")
      ->check(CLI::IsMember({"best", "last"}));
  cmd->add_option("--far", args->far,
                  "verification: false-accept rate of the reported false rejects and of the enrolment threshold "
                  "(default 0.05)")
      ->check(FalseAcceptRate);
  cmd->add_option("--enrol-classes", args->enrol_classes,
                  "verification: classes enrolled from one clip each per draw (default half, at least 2)")
      ->check(WholeNumber(1, kIntMax));
  cmd->add_option("--draws", args->draws,
                  "verification: enrol-one-clip draws (default 1000, at most 1,000,000; seeded by eval.seed)")
      ->check(WholeNumber(1, 1000000));  // 2e9 was accepted and ran for days
  cmd->add_option_function<double>(
         "--threshold",
         [args](double t) {
           args->threshold = t;
           args->has_threshold = true;
         },
         "verification: the enrol-one-clip threshold (default: fixed at --far on the run's training classes)")
      ->check(FiniteNumber);
  cmd->add_option_function<std::string>(
         "--domain", [args](const std::string& d) { args->domain_split = d == "split"; },
         "verification: split = the evaluated clips stand for the user's recordings (enroll --domain with them): "
         "every embedding centred on their mean (default none)")
      ->check(CLI::IsMember({"split", "none"}));
  cmd->add_option_function<std::string>(
         "--score-norm", [args](const std::string& n) { args->as_norm = n == "as-norm"; },
         "verification: as-norm = each score AS-normalised against the run's training clips, or with --domain "
         "split against the evaluated clips, as a class library does (default none: the head's raw score)")
      ->check(CLI::IsMember({"as-norm", "none"}));
  cmd->add_option("--cohort-top-k", args->cohort_top_k,
                  "verification with --score-norm as-norm: K, the cohort scores per side (default 100; at most a "
                  "half of the evaluated clips with --domain split, but never below 10; at least 10)")
      ->check(CLI::Range(kMinCohortTopK, std::size_t{100000}));
  args->config.add_to(*cmd);
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all cores; sets train.threads)")
      ->check(ThreadCount);
  cmd->add_option("--device", args->device, "cpu or cuda (sets train.device)");
  cmd->add_flag("--no-plots", args->no_plots, "Write the JSON and CSV results only");
  cmd->add_flag("--quiet", args->quiet, "No progress bars");
  cmd->callback([args, cmd] {
    if (args->protocol != "verification")
      for (const char* flag : {"--far", "--enrol-classes", "--draws", "--threshold", "--domain", "--score-norm",
                               "--cohort-top-k"})
        if (cmd->count(flag) > 0)
          throw CLI::ValidationError(std::string(flag) + " applies to --protocol verification only");
    if (cmd->count("--cohort-top-k") > 0 && !args->as_norm)
      throw CLI::ValidationError("--cohort-top-k applies to --score-norm as-norm only");
    if (int code = run_evaluate(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
