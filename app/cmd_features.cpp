#include "commands.h"

namespace oneshot::cli {

void add_features_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("features", "Build or validate the feature cache of a dataset");
  (void)cmd;
}

}  // namespace oneshot::cli
