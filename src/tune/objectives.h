#pragma once
// Named objectives for `oneshot-audio tune --objective NAME`. The training
// objective (a trial trains a network, returns 1 - best validation accuracy)
// registers itself as "train" from the training code; "branin" is built in,
// cheap, and exercises studies and workers in tests and CI.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tune/worker.h"

namespace oneshot {
struct Config;
}

namespace oneshot::tune {

struct ObjectiveContext {
  const Config& config;         // the run config (--config, --set) every trial starts from
  std::filesystem::path data;   // --data DIR; empty when not given
  std::string layout = "auto";  // --layout: auto, esc50 or folders
  bool esc10 = false;           // --esc10: the ESC-10 subset of an ESC-50 layout
  std::filesystem::path cache;  // --cache DIR; empty: DATA/.oneshot-cache
};

struct ObjectiveInfo {
  std::string description;
  // Called once per worker process, after it has started (so a worker that
  // loads data or LibTorch does so in its own process).
  std::function<Objective(const ObjectiveContext&)> make;
  // Optional: called once before any worker starts, in the launching process
  // (e.g. to build a feature cache the workers then share).
  std::function<void(const ObjectiveContext&)> prepare;
  std::string default_space_toml;  // empty: the original project's space
  bool config_keys = true;         // parameters are run-config keys: checked, best.toml is a full config
  bool needs_data = true;
};

void register_objective(const std::string& name, ObjectiveInfo info);
const ObjectiveInfo* find_objective(const std::string& name);
std::vector<std::string> objective_names();
void register_builtin_objectives();  // "branin"

}  // namespace oneshot::tune
