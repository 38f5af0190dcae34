// oneshot-audio run: the original main script in one command. Features
// (cached), training with validation and early stopping (continued when RUN
// exists), the best weights reloaded, the one-shot test on the test classes,
// plots and report.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "train/distributed.h"
#include "train/launcher.h"

namespace oneshot::cli {
namespace fs = std::filesystem;

int run_pipeline(const RunArgs& args) {
  check_output_directory(args.out);
  check_cache_option(args.cache);
  // --nproc: the ranks each run this whole command; rank 0 alone evaluates.
  if (args.nproc > 1 && !started_by_launcher()) {
    if (LaunchEnv::from_environment().present)
      throw Error("--nproc starts its own ranks: with RANK / WORLD_SIZE set, start one process per rank "
                  "without --nproc");
    LaunchOptions launch;
    launch.nproc = args.nproc;
    return launch_local_ranks(launch, std::cerr);
  }
  TrainArgs train;
  train.config = args.config;
  train.data = args.data;
  train.run = args.out;
  train.layout = args.layout;
  train.cache = args.cache;
  train.esc10 = args.esc10;
  train.threads = args.threads;
  train.quiet = args.quiet;
  train.nproc = args.nproc;
  if (int code = run_train(train); code != 0) return code;
  if (LaunchEnv::from_environment().rank != 0) return 0;

  // evaluate reads everything else from the run directory; --set overrides
  // of [eval] apply to the test as they would to evaluate.
  EvaluateArgs evaluate;
  evaluate.run = args.out;
  evaluate.config.overrides = args.config.overrides;
  evaluate.threads = args.threads;
  evaluate.quiet = args.quiet;
  return run_evaluate(evaluate);
}

void add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run", "Features, training, one-shot test, plots and report in one command (again on OUT: resume)");
  cmd->add_option("--data", args->data, "Dataset directory (ESC-50 layout or one folder per class); "
                                        "optional when OUT already holds a run")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args->out, "Run directory: created, or continued")->required();
  args->config.add_to(*cmd);
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_option("--layout", args->layout, "Dataset layout: auto, esc50 or folders")
      ->check(CLI::IsMember({"auto", "esc50", "folders"}));
  cmd->add_flag("--esc10", args->esc10, "ESC-50 layout: use the ESC-10 subset");
  cmd->add_option("--cache", args->cache, "Feature cache directory (default: DATA/.oneshot-cache)");
  cmd->add_flag("--quiet", args->quiet, "No progress bars");
  cmd->add_option("--nproc", args->nproc,
                  "Data-parallel training: start N local processes (as train --nproc); rank 0 evaluates")
      ->check(CLI::Range(1, 1024));
  cmd->callback([args] {
    if (int code = run_pipeline(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
