#include "commands.h"

namespace oneshot::cli {

void add_logmel_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logmel", "Write one clip's log-mel spectrogram as a NumPy .npy file");
  (void)cmd;
}

}  // namespace oneshot::cli
