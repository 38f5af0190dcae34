// oneshot-audio train: load a dataset and its feature cache, split the
// classes, train the siamese network into a run directory (or continue it).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "data/dataset.h"
#include "data/feature_cache.h"
#include "model/runtime.h"
#include "train/distributed.h"
#include "train/launcher.h"
#include "train/run_dir.h"
#include "train/split.h"
#include "train/trainer.h"

namespace oneshot::cli {
namespace fs = std::filesystem;

namespace {

// The configuration and data of the run, as the run directory (when it
// continues) and the flags give them.
void resolve_run(const TrainArgs& args, Config& config, RunInfo& info) {
  const RunPaths paths{args.run};
  // A run directory remembers its configuration and data; flags given again
  // override them. Without a checkpoint (a first start that failed) there is
  // nothing to continue: the flags given now decide, as for a new run.
  const bool resuming = fs::exists(paths.config()) && fs::exists(paths.last());
  config = resuming ? load_resumed_config(paths.config(), args.config.file, args.config.overrides)
                    : args.config.load();
  if (args.threads >= 0) config.train.threads = args.threads;
  if (!args.device.empty()) config.train.device = args.device;
  config.validate();

  RunInfo previous;
  if (fs::exists(paths.info())) previous = RunInfo::load(paths.info());
  info.data_dir = !args.data.empty() ? fs::absolute(args.data).lexically_normal().string() : previous.data_dir;
  if (info.data_dir.empty()) throw Error("train: --data DIR is required for a new run");
  info.layout = !args.layout.empty() ? args.layout : (!previous.layout.empty() ? previous.layout : "auto");
  info.esc10 = args.esc10 || previous.esc10;
  info.cache_dir = !args.cache.empty() ? fs::absolute(args.cache).lexically_normal().string() : previous.cache_dir;
}

// A rank other than 0 trains with rank 0's configuration; the --config and
// --set it was given itself must agree with it (else they would be ignored
// without a word). Threads and device are each rank's own.
void check_settings_agree(const TrainArgs& args, const Config& config, int rank) {
  if (args.config.file.empty() && args.config.overrides.empty()) return;
  Config mine = config;
  if (!args.config.file.empty()) mine.merge_file(args.config.file);
  for (const auto& o : args.config.overrides) mine.set(o);
  mine.train.threads = config.train.threads;
  mine.train.device = config.train.device;
  // section.key -> value, from to_toml's "[section]" / "key = value" lines.
  auto entries = [](const std::string& toml) {
    std::map<std::string, std::string> m;
    std::istringstream lines(toml);
    std::string line, section;
    while (std::getline(lines, line)) {
      if (!line.empty() && line[0] == '[') section = line.substr(1, line.find(']') - 1);
      else if (const auto eq = line.find(" = "); eq != std::string::npos)
        m[section + "." + line.substr(0, eq)] = line.substr(eq + 3);
    }
    return m;
  };
  const auto theirs = entries(config.to_toml());
  std::string differ;
  for (const auto& [key, value] : entries(mine.to_toml()))
    if (auto it = theirs.find(key); it == theirs.end() || it->second != value)
      differ += (differ.empty() ? "" : ", ") + key + " = " + value + " here, " +
                (it == theirs.end() ? std::string("unset") : it->second) + " on rank 0";
  if (differ.empty() && mine.to_toml() != config.to_toml()) differ = "see its config.toml";
  if (!differ.empty())
    throw Error("rank " + std::to_string(rank) + ": its --config / --set differ from rank 0's configuration (" + differ +
                "); the ranks train with rank 0's: give every rank the same settings, or none to ranks other than 0");
}

// One rank's training (dist null: one process).
int train_rank(const TrainArgs& args, Distributed* dist) {
  const RunPaths paths{args.run};
  const bool main = !dist || dist->is_main();
  Config config;
  RunInfo info;
  if (main) resolve_run(args, config, info);
  if (dist) {
    // Rank 0 alone sees the run directory; the others take its settings
    // (their own --data / --cache where their host keeps them elsewhere).
    std::string toml = main ? config.to_toml() : std::string();
    std::string info_json = main ? json_text(info.to_json()) : std::string();
    dist->broadcast_string(toml);
    dist->broadcast_string(info_json);
    if (!main) {
      config.merge_toml(toml, "the configuration of rank 0");
      check_settings_agree(args, config, dist->rank());
      info = RunInfo::from_json(nlohmann::json::parse(info_json), "the run.json of rank 0");
      if (!args.data.empty()) info.data_dir = fs::absolute(args.data).lexically_normal().string();
      if (!args.cache.empty()) info.cache_dir = fs::absolute(args.cache).lexically_normal().string();
      if (!args.device.empty()) config.train.device = args.device;
    }
    // --threads is per process; by default the host's cores are shared out.
    if (args.threads >= 0) {
      config.train.threads = args.threads;
    } else if (config.train.threads == 0 && dist->local_world_size() > 1) {
      config.train.threads =
          std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / dist->local_world_size());
    }
    // Oversubscribed cores make every rank wait for the slowest: said once, by local rank 0.
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    const int per_rank = config.train.threads > 0 ? config.train.threads : cores;
    if (dist->local_rank() == 0 && cores > 0 && per_rank * dist->local_world_size() > cores)
      std::cerr << "note: " << dist->local_world_size() << " processes x " << per_rank << " threads on " << cores
                << " cores of this host: the ranks will contend (lower --threads or --nproc)\n";
    config.validate();
  }

  if (main)
    if (const std::string warning = blas_warning(blas_in_use()); !warning.empty()) std::cerr << warning << "\n";
  DatasetOptions dataset_options;
  dataset_options.layout = info.layout;
  dataset_options.esc10 = info.esc10;
  dataset_options.collect_problems = true;  // listed at once with the files the feature step cannot decode
  const Dataset dataset = load_dataset(info.data_dir, dataset_options);
  info.layout = dataset.layout;
  // A new run's split is checked before the feature cache is built: a
  // configuration that cannot split these classes fails at once, without
  // first writing a cache into the data directory. Damaged files come first:
  // the feature step lists them all, and refuses before it writes.
  if (main && dataset.problems.empty() && !fs::exists(paths.split())) split_dataset_classes(dataset, config.split);

  CacheOptions cache_options;
  cache_options.cache_dir = info.cache_dir;
  cache_options.jobs = config.train.threads;
  cache_options.progress = !args.quiet && main;
  CacheReport report;
  FeatureSet features;
  // The cache is built once per host: its local rank 0 builds (with every
  // core: the others wait), the others then load it.
  const bool builds = !dist || dist->local_rank() == 0;
  if (builds) {
    if (dist) cache_options.jobs = 0;
    features = FeatureCache::load_or_build(dataset, config.features, cache_options, &report);
  }
  if (dist) {
    dist->barrier();
    if (!builds) features = FeatureCache::load_or_build(dataset, config.features, cache_options, &report);
    check_same_features(*dist, features, report.cache_file.string());
  }
  info.cache_file = report.cache_file.string();
  info.n_clips = static_cast<std::int64_t>(features.n_clips());
  info.n_mels = static_cast<std::int64_t>(features.n_mels());
  info.n_frames = static_cast<std::int64_t>(features.n_frames());
  info.n_classes = static_cast<std::int64_t>(dataset.class_names.size());
  if (!args.quiet && main)
    std::cout << "features: " << features.n_clips() << " clips, " << features.n_mels() << " x " << features.n_frames()
              << (report.rebuilt ? " (cache built: " + report.rebuild_reason + ")" : " (cache)")
              << (dist ? "; " + std::to_string(dist->world_size()) + " ranks, " +
                             std::to_string(config.train.threads) + " threads each, same features"
                       : std::string())
              << std::endl;

  TrainOptions options;
  options.run_dir = args.run;
  options.info = info;
  options.progress = !args.quiet && main;
  options.log = main ? &std::cout : nullptr;
  options.handle_sigint = true;
  options.distributed = dist;
  const TrainResult result = train(config, features, options);
  if (dist) dist->finish();

  switch (result.status) {
    case TrainStatus::NonFiniteLoss:
      if (main) std::cerr << "error: " << result.message << "\n";
      return 1;
    case TrainStatus::Interrupted:
      if (main) std::cerr << result.message << "\n";
      return 130;  // the shell's code for Ctrl-C: scripts stop here
    default:
      if (main)
        // checkpoint = "last": best.pt holds the final weights, whose (smoothed) validation is reported.
        std::cout << result.message
                  << (config.train.checkpoint == "last" ? "; final validation accuracy (smoothed) "
                                                        : "; best validation accuracy ")
                  << result.best_accuracy << " at epoch " << result.best_epoch << " (" << paths.best().string() << ")"
                  << std::endl;
      return 0;
  }
}

}  // namespace

int run_train(const TrainArgs& args) {
  check_output_directory(args.run);
  check_cache_option(args.cache);
  if (args.nproc > 1 && !started_by_launcher()) {
    if (LaunchEnv::from_environment().present)
      throw Error("--nproc starts its own ranks: with RANK / WORLD_SIZE set, start one process per rank "
                  "without --nproc");
    LaunchOptions launch;
    launch.nproc = args.nproc;
    return launch_local_ranks(launch, std::cerr);
  }
  const LaunchEnv env = LaunchEnv::from_environment();
  std::unique_ptr<Distributed> dist;
  if (env.present && env.world_size > 1) {
    GlooOptions gloo;
    gloo.env = env;
    dist = connect_gloo(gloo);
  }
  try {
    return train_rank(args, dist.get());
  } catch (const std::exception& e) {
    if (dist) dist->report_failure(e.what());
    throw;
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
      ->check(ThreadCount);
  cmd->add_option("--device", args->device, "cpu or cuda (sets train.device)");
  cmd->add_option("--layout", args->layout, "Dataset layout: auto, esc50 or folders")
      ->check(CLI::IsMember({"auto", "esc50", "folders"}));
  cmd->add_flag("--esc10", args->esc10, "ESC-50 layout: use the ESC-10 subset");
  cmd->add_option("--cache", args->cache, "Feature cache directory (default: DATA/.oneshot-cache)");
  cmd->add_flag("--quiet", args->quiet, "No progress bars or feature summary");
  cmd->add_option("--nproc", args->nproc,
                  "Data-parallel: start N local processes (ranks; --threads is per process, default cores / N). "
                  "Ranks started by hand or by torchrun take RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT "
                  "from the environment instead")
      ->check(CLI::Range(1, 1024));
  cmd->callback([args] {
    if (int code = run_train(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
