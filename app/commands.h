#pragma once
// Each subcommand lives in its own cmd_*.cpp and registers itself here.
// The CLI is a thin layer: parse flags, build a Config, call the library.
#include <CLI/CLI.hpp>
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

void add_logmel_command(CLI::App& app);
void add_features_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_tune_commands(CLI::App& app);  // tune, tune-report
void add_train_command(CLI::App& app);

}  // namespace oneshot::cli
