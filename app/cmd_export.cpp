// oneshot-audio export: a trained run's network as a file that other programs
// run without this project (ONNX for ONNX Runtime in Node, Python, C#, the
// browser, ...; TorchScript for PyTorch's torch.jit.load), with its model card
// (FILE.json: the front end's settings, input and output, normalisation,
// score head, fingerprint and, with --library, calibration and thresholds).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <unistd.h>

#include "audio/logmel.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "inference/model_card.h"
#include "inference/run_model.h"
#include "model/export_onnx.h"
#include "model/export_plan.h"
#include "model/export_torchscript.h"
#include "train/run_dir.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct ExportArgs {
  std::string run, format, out, library, weights = "best";
  bool with_frontend = false;
  int threads = 0;
};

// A library's thresholds hold for the weights it was embedded with. When it
// was embedded with the run's other checkpoint (the usual case: enrolled with
// best.pt, exported with --weights last), say so and what to give instead,
// rather than a bare fingerprint mismatch.
void check_library_weights(const ClassLibrary& library, const RunModel& run, const std::string& weights) {
  const LibraryModel stored = library.model();
  if (run.made(stored.fingerprint)) return;
  const RunPaths paths{run.run_dir()};
  for (const auto& [name, file] : {std::pair{"best", paths.best()}, std::pair{"last", paths.last()}}) {
    if (name == weights || !fs::exists(file)) continue;
    const RunModel::Fingerprints other = RunModel::fingerprints_of(file, run.config().features);
    if (other.current == stored.fingerprint || other.former == stored.fingerprint)
      throw file_error(library.path(), "the library was embedded with this run's " + file.filename().string() +
                                           ", not with " + run.weights_file().filename().string() +
                                           " (--weights " + weights + "), and its thresholds hold only for those "
                                           "weights: export --weights " + name + " with --library, or --weights " +
                                           weights + " without it");
  }
  throw file_error(library.path(), "the library was embedded with model " + stored.fingerprint + " (run " +
                                       stored.run + "), but " + run.weights_file().string() + " is model " +
                                       run.fingerprint() + ": give the run the library was enrolled with, or "
                                       "re-embed it with `library --reembed --run RUN`");
}

int run_export(const ExportArgs& a) {
  if (a.format != "onnx" && a.format != "torchscript")
    throw Error("--format must be onnx or torchscript, got \"" + a.format + "\"");
  if (a.with_frontend && a.format != "onnx")
    throw Error("--with-frontend is for --format onnx (a TorchScript file takes the log-mel; the card gives its settings)");
  if (a.out == "-") throw Error("--out must name a file: the model card is written beside it (FILE.json)");
  const fs::path out = a.out;
  const fs::path card_path = model_card_path(out);
  // A device or a pipe (written through by other commands) is no place for a
  // file with a card beside it: /dev/null made a regular file /dev/null.json.
  std::error_code status_ec;
  if (const fs::file_status status = fs::status(out, status_ec);
      fs::exists(status) && !fs::is_regular_file(status) && !fs::is_directory(status))
    throw file_error(out, std::string("is ") +
                              (fs::is_fifo(status)              ? "a named pipe"
                               : fs::is_character_file(status) ? "a character device"
                               : fs::is_block_file(status)     ? "a block device"
                                                               : "not a regular file") +
                              ": --out must name a file: the export is a file with its model card written beside "
                              "it (" + card_path.string() + ")");
  // Never over the files it reads: --out R/best.pt replaced the trained
  // weights with the export, --out LIB with --library LIB the library (named
  // as the input it is, before the check that refuses any database).
  {
    std::vector<fs::path> inputs;
    for (const char* name : {"best.pt", "last.pt", "config.toml", "run.json", "split.json", "metrics.csv"})
      inputs.push_back(fs::path(a.run) / name);
    if (!a.library.empty()) inputs.push_back(a.library);
    for (const fs::path& target : {out, card_path}) check_not_an_input(target, inputs, "export");
  }
  // As for every file named on its own: a missing directory is named, not
  // made; an existing SQLite database (another class library) is refused.
  check_output_path(out, OutputRules{.create_parents = false});
  check_output_path(card_path, OutputRules{.create_parents = false});
  if (fs::is_directory(out)) throw file_error(out, "is a directory: give the exported file's name, e.g. model." +
                                                       std::string(a.format == "onnx" ? "onnx" : "pt"));
  // The library before the model: a wrong path fails at once.
  std::optional<ClassLibrary> library;
  if (!a.library.empty()) library.emplace(ClassLibrary::open_read_only(a.library));

  auto run = RunModel::load(a.run, a.threads, a.weights);
  const FeaturesConfig& f = run->config().features;
  const LogMelExtractor extractor(f, f.sample_rate);
  const auto n_mels = static_cast<int64_t>(extractor.n_mels());
  const auto n_frames = static_cast<int64_t>(extractor.n_frames(run->window_samples()));
  const std::string format_name = a.format == "onnx" ? "ONNX" : "TorchScript";
  if (library) check_library_weights(*library, *run, a.weights);
  const ExportPlan plan = export_plan(*run->model(), n_mels, n_frames, format_name);
  const nlohmann::json card = model_card(*run, plan, a.format, out, a.with_frontend, library ? &*library : nullptr);
  const std::string card_text = json_text(card, 2) + "\n";

  // The model and its card are one pair: the model is written under a
  // temporary name, then the card, then the model renamed into place, so a
  // failure (a full disk) leaves the previous pair, never a model of one run
  // beside another's card.
  const fs::path destination = fs::weakly_canonical(out);  // a symbolic link's target is replaced
  const fs::path staged = destination.parent_path() /
                          ("." + destination.filename().string() + ".export-" + std::to_string(::getpid()));
  try {
    if (a.format == "torchscript") {
      save_torchscript(plan, staged, card_text);
    } else {
      OnnxOptions options;
      if (a.with_frontend) options.frontend = OnnxFrontend::from(f, run->window_samples());
      save_onnx(plan, staged, options);
    }
    write_file_atomic(card_path, card_text);
    std::error_code ec;
    fs::rename(staged, destination, ec);
    if (ec) throw file_error(destination, "cannot be replaced (" + ec.message() + "); its card is already the new one");
  } catch (...) {
    std::error_code ec;
    fs::remove(staged, ec);
    throw;
  }
  const std::string input = a.with_frontend ? "waveform (batch, " + std::to_string(run->window_samples()) + ")"
                                            : "log_mel (batch, 1, " + std::to_string(n_mels) + ", " +
                                                  (plan.any_frames() ? "frames >= " + std::to_string(plan.min_frames)
                                                                     : std::to_string(n_frames)) + ")";
  std::printf("%s: %s, %s -> embedding (batch, %lld)\n%s: model card%s\n", out.c_str(), format_name.c_str(),
              input.c_str(), static_cast<long long>(plan.embedding_dim), card_path.c_str(),
              library ? " with the library's calibration and thresholds" : "");
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Export a trained run's network as ONNX or TorchScript, with a model card");
  cmd->add_option("--run", a->run, "Trained run directory")->required();
  cmd->add_option("--format", a->format, "onnx or torchscript")->required();
  cmd->add_option("--out", a->out, "The exported file (its model card is written beside it as FILE.json)")->required();
  cmd->add_option("--library", a->library, "A class library of this run: its calibration and thresholds go into the card");
  cmd->add_option("--weights", a->weights, "best (default) or last")->check(CLI::IsMember({"best", "last"}));
  cmd->add_flag("--with-frontend", a->with_frontend,
                "ONNX only: the file takes raw samples (batch, window) and computes the log-mel inside");
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->footer(
      "The exported network is the embedding path: log-mel (batch, 1, n_mels, frames) in the card's units ->\n"
      "clip and band normalisation -> encoder (inference mode) -> embedding normalisation -> band statistics\n"
      "of the clip appended (model.descriptor) -> (batch, D).\n"
      "  Node:    const ort = require('onnxruntime-node'); const s = await ort.InferenceSession.create('model.onnx')\n"
      "  Python:  onnxruntime.InferenceSession('model.onnx').run(None, {'log_mel': x})\n"
      "  PyTorch: m = torch.jit.load('model.pt'); e = m(x); s = m.score(e, e)\n"
      "The card (FILE.json) gives the front end's settings, the score head and, with --library, the thresholds.");
  cmd->callback([a] {
    if (int code = run_export(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
