// oneshot-audio demo: the quick start without ESC-50. Generates a small
// synthetic dataset in the ESC-50 layout (tones, chirps, noise bands, clicks:
// clearly separable classes) and runs the whole pipeline on it with a small
// model, in about half a minute on 2 CPU cores.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/atomic_file.h"
#include "data/synthetic.h"
#include "events/event.h"
#include <nlohmann/json.hpp>
#include <algorithm>

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

// After training: one example clip per class to enrol (three of the unseen
// test classes), and a minute-long recording with events of those three and of
// the two other test classes (never enrolled: the detector should ignore
// them), with the reference event list of the enrolled ones.
void write_enrolment_material(const fs::path& out, const SyntheticOptions& dataset) {
  const fs::path split_file = out / "run" / "split.json";
  if (!fs::exists(split_file)) return;
  const auto split = nlohmann::json::parse(read_file(split_file));
  const std::vector<std::string> test = split.at("test").get<std::vector<std::string>>();
  if (test.size() < 4) return;
  const std::vector<std::string> names = synthetic_class_names(dataset.n_classes, dataset.sample_rate);
  auto index_of = [&](const std::string& name) {
    return static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  const std::size_t n_enrolled = 3;
  for (std::size_t i = 0; i < n_enrolled; ++i)  // a new variant: not a clip of the dataset
    write_wav16(out / "examples" / (test[i] + ".wav"), synthesize_clip(index_of(test[i]), 1000, dataset),
                dataset.sample_rate);
  RecordingOptions recording;
  recording.duration = 60;
  recording.n_events = 10;
  recording.seed = dataset.seed + 1;
  for (const auto& name : test) recording.classes.push_back(index_of(name));
  const SyntheticRecording long_take = synthesize_recording(dataset, recording);
  write_wav16(out / "long" / "recording.wav", long_take.samples, dataset.sample_rate);
  std::vector<Event> reference;
  for (const auto& e : long_take.events) {
    const std::string& name = names[static_cast<std::size_t>(e.class_index)];
    if (std::find(test.begin(), test.begin() + n_enrolled, name) == test.begin() + n_enrolled) continue;
    Event event;
    event.filename = "recording.wav";
    event.onset = e.onset;
    event.offset = e.offset;
    event.label = name;
    reference.push_back(event);
  }
  write_event_list(out / "long" / "reference.tsv", reference);
  std::cout << "demo: next, teach it three unseen sounds from one example each, classify, detect and score:\n";
  const std::string o = out.string();
  for (std::size_t i = 0; i < n_enrolled; ++i)
    std::cout << "  oneshot-audio enroll --run " << o << "/run --library " << o << "/sounds.db --class " << test[i]
              << " " << o << "/examples/" << test[i] << ".wav\n";
  std::cout << "  oneshot-audio classify --library " << o << "/sounds.db " << o << "/data/audio\n"
            << "  oneshot-audio detect --library " << o << "/sounds.db --out " << o << "/detections " << o
            << "/long/recording.wav\n"
            << "  oneshot-audio score-events --reference " << o << "/long/reference.tsv --estimate " << o
            << "/detections/events.tsv\n";
}

int run_demo(const DemoArgs& args) {
  const fs::path out = fs::absolute(args.out);
  check_output_directory(out);
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
  if (code == 0) {
    std::cout << "demo: open " << (out / "run" / "report.html").string() << std::endl;
    write_enrolment_material(out, demo_dataset());
  }
  return code;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand("demo", "Generate a small synthetic dataset and run the whole pipeline on it");
  cmd->add_option("--out", args->out, "Output directory (default: demo-run)");
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_option("--set", args->overrides, "section.key=value on top of the demo's settings (repeatable)");
  cmd->add_flag("--quiet", args->quiet, "No progress bars");
  cmd->callback([args] {
    if (int code = run_demo(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
