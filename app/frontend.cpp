// oneshot-audio: the front end users run. Linked without LibTorch, whose
// start-up alone takes about half a second, so that the commands that use no
// model (logmel, features, tune-report, --help, --version, ...) start in a few
// milliseconds. Every other command is handed over with execv, on the same
// arguments, to oneshot-audio-model next to this executable, which has every
// command. The rule for which app/*.cpp go where is in commands.h and
// CMakeLists.txt (ONESHOT_FRONTEND_APP).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"

namespace oneshot::cli {
namespace {

char** saved_argv = nullptr;

// The commands that need the model, with the descriptions their files give
// them, so that `oneshot-audio --help` lists every command without loading
// LibTorch (Cli.FrontEndHelpListsEveryCommand compares the two lists).
struct ModelCommand {
  const char* name;
  const char* description;
};
constexpr ModelCommand kModelCommands[] = {
    {"evaluate", "One-shot test of a trained run on its unseen classes"},
    {"tune", "Tune hyperparameters with TPE; resumable, shared by any number of workers"},
    {"train", "Train the siamese network into a run directory, or continue one"},
    {"run", "Features, training, one-shot test, plots and report in one command (again on OUT: resume)"},
    {"demo", "Generate a small synthetic dataset and run the whole pipeline on it"},
    {"enroll", "Add examples of a class to a class library (one recording is enough)"},
    {"classify", "Classify recordings against a class library (or \"unknown\")"},
    {"detect", "Detect enrolled sounds in long recordings (events with onset and offset)"},
    {"embed", "Per-window embeddings of recordings as NumPy arrays with an index"},
    {"export", "Export a trained run's network as ONNX or TorchScript, with a model card"},
    {"index", "Embed every window of recordings once into a sound archive, for search"},
    {"search", "Find the windows of a sound archive most like an example or a class"},
    {"review", "Teach a class from verdicts on search hits (the review page's export)"},
};

// The first argument that is not an option: the subcommand (the top level
// has only flags, --help and --version).
const char* subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') return argv[i];
  return nullptr;
}

}  // namespace

[[noreturn]] void hand_over_to_model() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find this executable's directory (/proc/self/exe): " + ec.message());
  const std::filesystem::path model = self.parent_path() / "oneshot-audio-model";
  // LibTorch's OpenMP threads (libgomp) spin for about 300,000 pauses after
  // each parallel region before they sleep. On a machine busy with anything
  // else that spinning takes the cores the work needs: detect reading a
  // stream (one window a parallel region) took 14-23 s for 30 s of audio at
  // --threads 2 beside one busy process, against 2-3 s with passive waits,
  // which cost nothing measurable idle (training 22.0 against 22.9 s, detect
  // alike). libgomp reads the policy once, when it loads, hence here before
  // the model executable starts; a user's own setting wins.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  // argv unchanged: argv[0] stays the name the user typed, so usage and
  // errors read the same from either executable.
  execv(model.c_str(), saved_argv);
  throw Error(model.string() + ": cannot start the executable that runs the model commands (" +
              std::strerror(errno) + "); build it with `cmake --build build --target oneshot-audio-model`");
}

}  // namespace oneshot::cli

int main(int argc, char** argv) {
  namespace cli = oneshot::cli;
  cli::saved_argv = argv;
  CLI::App app;
  cli::set_up_app(app);
  cli::add_logmel_command(app);
  cli::add_features_command(app);
  cli::add_tune_report_command(app);
  cli::add_library_command(app);
  cli::add_score_events_command(app);

  // The model commands go to the full executable; a word that is no command
  // is answered here (run_app names it) without LibTorch's start-up.
  const char* sub = cli::subcommand_of(argc, argv);
  if (sub) {
    bool model = false;
    for (const auto& c : cli::kModelCommands)
      if (std::string(sub) == c.name) model = true;
    if (model) {
      try {
        cli::hand_over_to_model();
      } catch (const oneshot::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
      }
    }
  }
  // Listed for --help only: the hand-over above runs them.
  for (const auto& c : cli::kModelCommands) app.add_subcommand(c.name, c.description);
  return cli::run_app(app, argc, argv);
}
