// The dev protocol of the accuracy issue: one training recipe on one class
// split of a real dataset, under a CPU-time budget, reporting one-shot
// validation accuracy against CPU seconds. bench/recipes.sh runs recipes x
// splits and prints the table (mean and spread across splits).
//
//   bench_recipes --data DIR [--cache DIR] [--config FILE] [--set K=V]...
//                 [--split-seed S] [--n-val 10] [--budget CPU_SECONDS]
//                 [--threads T] [--csv FILE] [--run DIR] [--own-schedule]
//
// Split: --n-val validation classes drawn with split.seed = S, no test
// classes (the dev protocol: 30 training / 10 validation classes of
// esc50-dev). Validation: 5-way 1-shot, train.val_queries queries a class,
// train.val_episodes episodes (>= 2000), after every train.steps_per_epoch
// steps. The budget counts this process's CPU time (user + system, all
// threads), validation included; training stops at the first step or
// validation past it. Score: the best smoothed validation accuracy (EMA with
// train.val_smoothing, 0.5 when the recipe has 0) reached within the budget.
//
// --run DIR keeps the run directory (config.toml, split.json with the dev
// classes as validation classes, best.pt, last.pt), so that `evaluate --run
// DIR --split val` measures the model the recipe yields (bench/recipes.sh).
// Training then stops at the first validation past the budget (an interval
// boundary: last.pt holds validation's re-estimated BatchNorm statistics).
// --n-test N holds N more classes out of training and validation (the
// held-out variant: a recipe validates and stops on its own small validation
// classes and `evaluate --split test` measures it on classes it never saw).
// --own-schedule keeps the recipe's own train.epochs and train.patience (it
// stops as a user's run would, or at the budget); without it both are lifted
// and the budget alone ends training (the earlier protocol).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "train/run_dir.h"
#include "train/trainer.h"

using namespace oneshot;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Dev-protocol accuracy of one recipe on one class split under a CPU budget"};
  std::string data, cache, config_file, csv;
  std::vector<std::string> overrides;
  std::int64_t split_seed = 1;
  int n_val = 10, n_test = 0, threads = 1;
  double budget = 900, score_smoothing = 0.5;
  std::string run_dir;
  bool own_schedule = false;
  app.add_option("--data", data, "dataset directory")->required();
  app.add_option("--cache", cache, "feature cache directory");
  app.add_option("--config", config_file, "recipe config (TOML)");
  app.add_option("--set", overrides, "section.key=value (repeatable)");
  app.add_option("--split-seed", split_seed, "split.seed of the class split");
  app.add_option("--n-val", n_val, "validation classes");
  app.add_option("--n-test", n_test, "test classes (held out from training and validation; 0 in the dev protocol)");
  app.add_option("--budget", budget, "CPU seconds (user + system, all threads)");
  app.add_option("--threads", threads, "train.threads");
  app.add_option("--csv", csv, "per-validation rows: cpu_seconds,val_accuracy,val_smoothed");
  app.add_option("--run", run_dir, "keep the run directory here (a new directory)");
  app.add_flag("--own-schedule", own_schedule, "keep the recipe's train.epochs and train.patience");
  app.add_option("--score-smoothing", score_smoothing, "EMA weight for the score when the recipe has none");
  CLI11_PARSE(app, argc, argv);

  try {
    Config config;
    if (!config_file.empty()) config.merge_file(config_file);
    for (const auto& o : overrides) config.set(o);
    config.split.n_val = n_val;
    config.split.n_test = n_test;
    config.split.val_classes.clear();
    config.split.test_classes.clear();
    config.split.seed = split_seed;
    config.train.threads = threads;
    if (!own_schedule) {
      config.train.epochs = 100000;     // the budget ends training
      config.train.patience = 100000;
    }
    config.validate();

    DatasetOptions dataset_options;
    const Dataset dataset = load_dataset(data, dataset_options);
    CacheOptions cache_options;
    cache_options.cache_dir = cache;
    cache_options.jobs = threads;
    cache_options.progress = false;
    CacheReport report;
    const FeatureSet features = FeatureCache::load_or_build(dataset, config.features, cache_options, &report);

    const double start = cpu_seconds();
    const double a = config.train.val_smoothing > 0 ? config.train.val_smoothing : score_smoothing;
    double smoothed = -1, best = 0, best_at = 0;
    std::vector<std::string> rows;
    TrainOptions options;
    options.progress = false;
    if (!run_dir.empty()) {
      options.run_dir = run_dir;
      options.info.data_dir = std::filesystem::absolute(data).lexically_normal().string();
      options.info.layout = dataset.layout;
      options.info.cache_dir = cache.empty() ? std::string() : std::filesystem::absolute(cache).lexically_normal().string();
      options.info.cache_file = report.cache_file.string();
      options.info.n_clips = static_cast<std::int64_t>(features.n_clips());
      options.info.n_mels = static_cast<std::int64_t>(features.n_mels());
      options.info.n_frames = static_cast<std::int64_t>(features.n_frames());
      options.info.n_classes = static_cast<std::int64_t>(dataset.class_names.size());
      // A hard cap only: the budget normally ends training at a validation.
      options.after_step = [&](int, std::int64_t) { return cpu_seconds() - start < 2 * budget; };
    } else {
      options.after_step = [&](int, std::int64_t) { return cpu_seconds() - start < budget; };
    }
    options.on_epoch = [&](const EpochMetrics& m) {
      const double t = cpu_seconds() - start;
      smoothed = smoothed < 0 ? m.val_accuracy : a * smoothed + (1 - a) * m.val_accuracy;
      if (smoothed > best) best = smoothed, best_at = t;
      char line[160];
      std::snprintf(line, sizeof line, "%.1f,%d,%.4f,%.4f,%.4f", t, m.epoch, m.val_accuracy, smoothed,
                    m.train_loss);
      rows.emplace_back(line);
      std::fprintf(stderr, "  cpu %7.1f s  interval %3d  val %.3f  smoothed %.3f  loss %.4f  lr %.2g\n", t, m.epoch,
                   m.val_accuracy, smoothed, m.train_loss, m.learning_rate);
      return t < budget;
    };
    const auto flops = model_forward_flops(config.model, static_cast<int64_t>(features.n_mels()),
                                           static_cast<int64_t>(features.n_frames()));
    const TrainResult result = train(config, features, options);
    if (!csv.empty()) {
      std::ofstream out(csv);
      out << "cpu_seconds,interval,val_accuracy,val_smoothed,train_loss\n";
      for (const auto& r : rows) out << r << "\n";
    }
    // One machine-readable summary line on stdout.
    std::printf("split_seed=%lld score=%.4f best_at_cpu_s=%.0f intervals=%d cpu_s=%.0f gflop_per_clip=%.3f cpu=\"%s\" status=\"%s\"\n",
                static_cast<long long>(split_seed), best, best_at, static_cast<int>(rows.size()),
                cpu_seconds() - start, flops / 1e9, cpu_features().c_str(), result.message.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
