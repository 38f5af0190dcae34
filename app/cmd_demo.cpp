// oneshot-audio demo: the quick start without ESC-50. Generates a small
// synthetic dataset in the ESC-50 layout (tones, chirps, noise bands, clicks:
// clearly separable classes) and runs the whole pipeline on it with a small
// model, in about half a minute on 2 CPU cores.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/atomic_file.h"
#include "data/synthetic.h"

namespace oneshot::cli {
namespace fs = std::filesystem;

namespace {

struct DemoArgs {
  std::string out = "demo-run";
  int threads = 0;
  bool quiet = false;
  std::vector<std::string> overrides;  // --set on top of the demo's settings
};

// The demo's dataset: 30 classes x 10 one-second clips at 22.05 kHz, so that
// the 20 training classes cover every kind of sound the generator makes.
SyntheticOptions demo_dataset() {
  SyntheticOptions options;
  options.n_classes = 30;
  options.clips_per_class = 10;
  options.sample_rate = 22050;
  options.duration = 1.0;
  options.seed = 7;
  return options;
}

// A small model and short training that fit the demo's size and time.
const char* const kDemoConfig = R"(# The demo's settings: a small model on 1 s synthetic clips.
[features]
sample_rate = 22050
duration = 1.0

[split]
n_test = 5
n_val = 5

[model]
width = 16
embedding_dim = 64

# An epoch of 30 steps: one pass over 200 clips would be 6 steps, too few
# between validations for a steady signal.
[train]
steps_per_epoch = 30
epochs = 15
patience = 5
val_episodes = 500

[eval]
protocol = "grid"
)";

int run_demo(const DemoArgs& args) {
  const fs::path out = fs::absolute(args.out);
  const fs::path data = out / "data";
  if (!fs::exists(data / "meta" / "esc50.csv")) {
    std::cout << "demo: writing a synthetic dataset to " << data.string() << std::endl;
    write_synthetic_dataset(data, demo_dataset());
  }
  const fs::path config = out / "demo.toml";
  if (!fs::exists(config)) write_file_atomic(config, kDemoConfig);

  RunArgs run;
  run.data = data.string();
  run.out = (out / "run").string();
  run.config.file = config.string();
  run.config.overrides = args.overrides;
  run.threads = args.threads;
  run.quiet = args.quiet;
  const int code = run_pipeline(run);
  if (code == 0) std::cout << "demo: open " << (out / "run" / "report.html").string() << std::endl;
  return code;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand("demo", "Generate a small synthetic dataset and run the whole pipeline on it");
  cmd->add_option("--out", args->out, "Output directory (default: demo-run)");
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--set", args->overrides, "section.key=value on top of the demo's settings (repeatable)");
  cmd->add_flag("--quiet", args->quiet, "No progress bars");
  cmd->callback([args] {
    if (int code = run_demo(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
