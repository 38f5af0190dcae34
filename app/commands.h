#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here.
// The CLI is a thin layer: parse flags, build a Config, call the library.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace oneshot::cli {

// --config FILE and --set section.key=value, shared by every command.
struct ConfigOptions {
  std::string file;
  std::vector<std::string> overrides;
  void add_to(CLI::App& cmd);
  Config load() const;
};

// The flags of train, evaluate and run; run and demo call the same functions
// as the train and evaluate commands.
struct TrainArgs {
  ConfigOptions config;
  std::string data, run, layout, cache;
  bool esc10 = false, quiet = false;
  int threads = -1;
  std::string device;
};
int run_train(const TrainArgs& args);

struct EvaluateArgs {
  ConfigOptions config;
  std::string run, split = "test", protocol, aggregate, weights = "best", device;
  int ways = 0, shots = 0, queries = 0, episodes = 0, threads = -1;
  std::int64_t seed = -1;
  bool no_plots = false, quiet = false;
};
int run_evaluate(const EvaluateArgs& args);

struct RunArgs {
  ConfigOptions config;
  std::string data, out, layout, cache;
  bool esc10 = false, quiet = false;
  int threads = -1;
};
int run_pipeline(const RunArgs& args);

void add_logmel_command(CLI::App& app);
void add_features_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_tune_commands(CLI::App& app);  // tune, tune-report
void add_train_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_demo_command(CLI::App& app);

}  // namespace oneshot::cli
