// oneshot-audio train: load a dataset and its feature cache, split the
// classes, train the siamese network into a run directory (or continue it).
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "model/runtime.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace oneshot::cli {
namespace fs = std::filesystem;

int run_train(const TrainArgs& args) {
  const RunPaths paths{args.run};
  // A run directory remembers its configuration and data; flags given again
  // override them. Without a checkpoint (a first start that failed) there is
  // nothing to continue: the flags given now decide, as for a new run.
  const bool resuming = fs::exists(paths.config()) && fs::exists(paths.last());
  Config config = resuming ? load_resumed_config(paths.config(), args.config.file, args.config.overrides)
                           : args.config.load();
  if (args.threads >= 0) config.train.threads = args.threads;
  if (!args.device.empty()) config.train.device = args.device;
  config.validate();

  RunInfo previous;
  if (fs::exists(paths.info())) previous = RunInfo::load(paths.info());
  RunInfo info;
  info.data_dir = !args.data.empty() ? fs::absolute(args.data).lexically_normal().string() : previous.data_dir;
  if (info.data_dir.empty()) throw Error("train: --data DIR is required for a new run");
  info.layout = !args.layout.empty() ? args.layout : (!previous.layout.empty() ? previous.layout : "auto");
  info.esc10 = args.esc10 || previous.esc10;
  info.cache_dir = !args.cache.empty() ? fs::absolute(args.cache).lexically_normal().string() : previous.cache_dir;

  if (const std::string warning = blas_warning(blas_in_use()); !warning.empty()) std::cerr << warning << "\n";
  DatasetOptions dataset_options;
  dataset_options.layout = info.layout;
  dataset_options.esc10 = info.esc10;
  const Dataset dataset = load_dataset(info.data_dir, dataset_options);
  info.layout = dataset.layout;

  CacheOptions cache_options;
  cache_options.cache_dir = info.cache_dir;
  cache_options.jobs = config.train.threads;
  cache_options.progress = !args.quiet;
  CacheReport report;
  const FeatureSet features = FeatureCache::load_or_build(dataset, config.features, cache_options, &report);
  info.cache_file = report.cache_file.string();
  info.n_clips = static_cast<std::int64_t>(features.n_clips());
  info.n_mels = static_cast<std::int64_t>(features.n_mels());
  info.n_frames = static_cast<std::int64_t>(features.n_frames());
  info.n_classes = static_cast<std::int64_t>(dataset.class_names.size());
  if (!args.quiet)
    std::cout << "features: " << features.n_clips() << " clips, " << features.n_mels() << " x " << features.n_frames()
              << (report.rebuilt ? " (cache built: " + report.rebuild_reason + ")" : " (cache)") << std::endl;

  TrainOptions options;
  options.run_dir = args.run;
  options.info = info;
  options.progress = !args.quiet;
  options.log = &std::cout;
  options.handle_sigint = true;
  const TrainResult result = train(config, features, options);

  switch (result.status) {
    case TrainStatus::NonFiniteLoss:
      std::cerr << "error: " << result.message << "\n";
      return 1;
    case TrainStatus::Interrupted:
      std::cerr << result.message << "\n";
      return 130;  // the shell's code for Ctrl-C: scripts stop here
    default:
      std::cout << result.message << "; best validation accuracy " << result.best_accuracy << " at epoch "
                << result.best_epoch << " (" << paths.best().string() << ")" << std::endl;
      return 0;
  }
}

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train the siamese network into a run directory, or continue one");
  cmd->add_option("--data", args->data, "Dataset directory (ESC-50 layout or one folder per class); "
                                        "optional when --run already exists")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--run", args->run, "Run directory: created, or continued from its last.pt")->required();
  args->config.add_to(*cmd);
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all cores; sets train.threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", args->device, "cpu or cuda (sets train.device)");
  cmd->add_option("--layout", args->layout, "Dataset layout: auto, esc50 or folders")
      ->check(CLI::IsMember({"auto", "esc50", "folders"}));
  cmd->add_flag("--esc10", args->esc10, "ESC-50 layout: use the ESC-10 subset");
  cmd->add_option("--cache", args->cache, "Feature cache directory (default: DATA/.oneshot-cache)");
  cmd->add_flag("--quiet", args->quiet, "No progress bars or feature summary");
  cmd->callback([args] {
    if (int code = run_train(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
