// The speed of using a trained model on recordings, as a user meets it:
//  - classify: one 5 s file against 50 classes, wall time of the whole
//    `oneshot-audio classify` command (start-up included), and the time per
//    file in a batch, as classify runs by default (the batch centred on
//    itself: every file embedded before the first is scored) and with
//    --centre library (each file scored as it is read), with peak memory;
//  - detect: a 10-minute recording at a 0.5 s hop, the whole command's wall
//    time as a real-time factor, and its peak memory (max RSS): as detect
//    runs by default (the recording first centred on itself, a pass over its
//    non-overlapping windows) and with --centre library (no such pass).
// The model is the default recipe's compact encoder (44.1 kHz, 5 s windows,
// width 32, 128-d) with untrained weights: speed does not depend on them.
// Usage: build/bench_detect [--files N] [--minutes M] [--threads T] [--set KEY=VALUE ...]
// (--set: a recipe other than the default, e.g. --set model.ensemble=2, to
// time it beside the default in the same session).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "data/synthetic.h"
#include "enroll/library.h"
#include "inference/run_model.h"
#include "model/runtime.h"
#include "model/siamese.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using namespace oneshot;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Timed {
  double wall = 0;
  long max_rss_kb = 0;
  int status = 0;
};

// Runs a shell command; wall time and the child's peak RSS.
Timed run(const std::string& command) {
  const double start = now();
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", (command + " > /dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  return {now() - start, usage.ru_maxrss, status};
}

std::vector<float> noisy_tones(double seconds, int sr, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> out(static_cast<std::size_t>(seconds * sr));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double t = static_cast<double>(i) / sr;
    const double f = 300 + 200 * std::floor(t / 7.0);  // a new tone every 7 s
    out[i] = noise(rng) + (std::fmod(t, 7.0) < 3.0 ? 0.3f * static_cast<float>(std::sin(2 * M_PI * f * t)) : 0.0f);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 200, threads = 0;
  double minutes = 10;
  Config config;  // the default recipe, with any --set
  std::string recipe = "default recipe";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--files") files = std::stoi(argv[i + 1]);
    else if (flag == "--minutes") minutes = std::stod(argv[i + 1]);
    else if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    else if (flag == "--set") {
      recipe += std::string(", ") + argv[i + 1];
      try {
        config.set(argv[i + 1]);
      } catch (const Error& e) {
        std::fprintf(stderr, "bench_detect: --set %s: %s\n", argv[i + 1], e.what());
        return 2;
      }
    }
  }
  try {
    config.validate();
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_detect: %s\n", e.what());
    return 2;
  }
  const fs::path cli = fs::read_symlink("/proc/self/exe").parent_path() / "oneshot-audio";
  const fs::path dir = fs::temp_directory_path() / ("oneshot-bench-detect-" + std::to_string(getpid()));
  fs::create_directories(dir / "run");
  fs::create_directories(dir / "files");

  write_file_atomic(dir / "run" / "config.toml", config.to_toml());
  {
    configure_runtime(threads);
    Siamese model(config.model, 128, 431);
    save_best_weights(dir / "run" / "best.pt", model, nlohmann::json::object());
  }
  auto model = RunModel::load(dir / "run", threads);
  const int sr = model->sample_rate();

  // A library of 50 classes, one 5 s example each.
  ClassLibrary library = ClassLibrary::open_or_create(dir / "lib.db", model->library_model());
  for (int c = 0; c < 50; ++c) {
    const std::vector<float> clip = noisy_tones(5.0, sr, 100 + static_cast<std::uint64_t>(c));
    const torch::Tensor e = model->embed_windows(clip, {0});
    LibraryExample example;
    example.source = "synthetic";
    example.embedding.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    library.add_examples("class_" + std::to_string(c), false, {example});
  }
  Calibration calibration;
  calibration.threshold = 0;
  calibration.classes = 2;
  library.set_calibration(calibration);
  Calibration centred = calibration;  // detect's and classify's defaults centre on the recordings with this one
  centred.domain_centred = true;
  library.set_recording_calibration(centred);

  std::string batch;
  for (int i = 0; i < files; ++i) {
    const fs::path f = dir / "files" / ("clip" + std::to_string(i) + ".wav");
    write_wav16(f, noisy_tones(5.0, sr, 1000 + static_cast<std::uint64_t>(i)), sr);
  }
  const fs::path recording = dir / "recording.wav";
  write_wav16(recording, noisy_tones(minutes * 60, sr, 7), sr);

  const std::string t = threads > 0 ? " --threads " + std::to_string(threads) : "";
  std::printf("bench_detect: %s, %s, 50 classes; cpu: %s\n", cli.c_str(), recipe.c_str(),
              cpu_features().c_str());
  // Start-up alone: the front end's --help, and the model executable's.
  const Timed help = run(cli.string() + " --help");
  const Timed one = run(cli.string() + " classify --library " + (dir / "lib.db").string() + t + " " +
                        (dir / "files" / "clip0.wav").string());
  const Timed many = run(cli.string() + " classify --format csv --library " + (dir / "lib.db").string() + t + " " +
                         (dir / "files").string());
  const Timed many_library = run(cli.string() + " classify --format csv --centre library --library " +
                                 (dir / "lib.db").string() + t + " " + (dir / "files").string());
  const Timed detect = run(cli.string() + " detect --quiet --no-plots --hop 0.5 --library " + (dir / "lib.db").string() +
                           t + " --out " + (dir / "det").string() + " " + recording.string());
  const Timed detect_library = run(cli.string() + " detect --quiet --no-plots --hop 0.5 --centre library --library " +
                                   (dir / "lib.db").string() + t + " --out " + (dir / "det").string() + " " +
                                   recording.string());
  if (one.status || many.status || many_library.status || detect.status || detect_library.status)
    std::fprintf(stderr, "bench_detect: a command failed\n");
  std::printf("front end --help:                         %8.3f s\n", help.wall);
  std::printf("classify 1 file (5 s), whole command:     %8.3f s\n", one.wall);
  std::printf("classify %d files, whole command:        %8.3f s = %.1f ms per file after start-up\n", files,
              many.wall, 1000 * (many.wall - one.wall) / std::max(1, files - 1));
  std::printf("  (centred on the batch; peak RSS %.0f MB)\n", static_cast<double>(many.max_rss_kb) / 1024);
  std::printf("classify %d files, --centre library:     %8.3f s = %.1f ms per file after start-up, peak RSS %.0f MB\n",
              files, many_library.wall, 1000 * (many_library.wall - one.wall) / std::max(1, files - 1),
              static_cast<double>(many_library.max_rss_kb) / 1024);
  std::printf("detect %.0f min at hop 0.5 s:              %8.3f s = %.0fx real time, peak RSS %.0f MB\n", minutes,
              detect.wall, minutes * 60 / detect.wall, static_cast<double>(detect.max_rss_kb) / 1024);
  std::printf("detect, --centre library (no first pass):  %8.3f s = %.0fx real time, peak RSS %.0f MB\n",
              detect_library.wall, minutes * 60 / detect_library.wall,
              static_cast<double>(detect_library.max_rss_kb) / 1024);
  fs::remove_all(dir);
  return 0;
}
