// oneshot-audio embed: per-window embeddings of recordings, for users' own
// classifiers, plots or clustering: OUT/embeddings.npy (windows x D, float32),
// OUT/index.csv (row, file, start_s, end_s) and OUT/embeddings.json (the
// model's card: run, fingerprint, window and hop, embedding size). Streaming:
// memory holds one window and one block of audio, plus one row of the index a
// window.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "audio/audio_reader.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/npy.h"
#include "inference/enrolment.h"
#include "inference/run_model.h"
#include "inference/window_stream.h"

namespace oneshot::cli {
namespace fs = std::filesystem;
namespace {

struct EmbedArgs {
  std::string run, out = "embeddings";
  std::vector<std::string> files;
  double hop = 0;
  int threads = 0;
  bool quiet = false;
};

int run_embed(const EmbedArgs& a) {
  if (!std::isfinite(a.hop) || a.hop < 0) throw Error("--hop must be a finite number of seconds >= 0");
  const InputFiles inputs = expand_inputs(a.files);
  if (inputs.any_skipped()) std::fprintf(stderr, "note: %s\n", inputs.skipped_note().c_str());
  const std::vector<std::string>& files = inputs.files;
  for (const auto& f : files)
    if (f == "-") throw Error("embed: give files, not standard input (the index names each window's file)");
  // The outputs before the model is loaded. embeddings.npy's row count is
  // written into its header at the end, so it must be a regular file (or a
  // link to one): a pipe or a device is refused here rather than buffered.
  check_output_directory(a.out);
  check_output_path(fs::path(a.out) / "embeddings.npy", OutputRules{.streaming = false});
  check_output_path(fs::path(a.out) / "index.csv");
  check_output_path(fs::path(a.out) / "embeddings.json");
  auto run = RunModel::load(a.run, a.threads);
  const std::size_t window = run->window_samples();
  const double rate = run->sample_rate();
  // Half the window by default, at least one frame hop: as enrol and classify cut recordings.
  const std::size_t hop = hop_samples(*run, WindowingOptions{a.hop, {}});
  create_output_directory(a.out);
  for (const char* name : {"embeddings.npy", "index.csv", "embeddings.json"})
    if (fs::is_directory(fs::path(a.out) / name))
      throw file_error(fs::path(a.out) / name, "is a directory: embed writes a file there");
  const auto dim = static_cast<std::size_t>(run->embedding_dim());
  NpyRowWriter npy(fs::path(a.out) / "embeddings.npy", dim);
  std::string index = "row,file,start_s,end_s\n";
  std::vector<std::string> problems;
  constexpr std::size_t kBatch = 16;
  for (const std::string& file : files) {
    try {
      ReaderOptions reader_options;
      reader_options.sample_rate = run->sample_rate();
      AudioReader reader(file, reader_options);
      WindowStream stream(window, hop);
      std::vector<float> block(1u << 16), packed;
      std::vector<std::size_t> starts;
      // This file's embeddings and index rows, added when the whole file was
      // read: a file that fails part-way costs itself alone (row i stays
      // index row i). Its embeddings are D floats a window: 9 MB for 12 hours.
      std::vector<float> embeddings;
      std::vector<std::pair<double, double>> spans;
      auto flush = [&] {
        if (starts.empty()) return;
        const torch::Tensor e = run->embed_packed(packed.data(), starts.size()).contiguous();
        embeddings.insert(embeddings.end(), e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
        const double duration = static_cast<double>(stream.total()) / rate;
        for (std::size_t start : starts) {
          const double s = static_cast<double>(start) / rate;
          // Clamped to the samples read: only the last, padded window runs past them.
          spans.emplace_back(s, std::min(s + static_cast<double>(window) / rate, duration));
        }
        packed.clear();
        starts.clear();
      };
      while (std::size_t n = reader.read(block.data(), block.size())) {
        stream.push(block.data(), n);
        while (const auto start = stream.pop(packed)) {
          starts.push_back(*start);
          if (starts.size() == kBatch) flush();
        }
      }
      if (const auto start = stream.pop_last(packed)) starts.push_back(*start);
      flush();
      const std::size_t first_row = npy.rows();
      npy.append(embeddings.data(), spans.size());
      for (std::size_t i = 0; i < spans.size(); ++i) {
        char buf[64];
        std::snprintf(buf, sizeof buf, ",%.6f,%.6f\n", spans[i].first, spans[i].second);
        index += std::to_string(first_row + i) + "," + csv_field(file) + buf;
      }
      if (!a.quiet)
        std::fprintf(stderr, "%s: %.1f s, %zu windows so far\n", file.c_str(), static_cast<double>(stream.total()) / rate,
                     npy.rows());
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  if (problems.size() == files.size()) {
    std::string message = "no recording could be embedded (nothing was written):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  nlohmann::json card = {{"run", fs::absolute(run->run_dir()).lexically_normal().string()},
                         {"fingerprint", run->fingerprint()},
                         {"sample_rate", run->sample_rate()},
                         {"window_s", static_cast<double>(window) / rate},
                         {"hop_s", static_cast<double>(hop) / rate},
                         {"embedding_dim", dim},
                         {"embedding_norm", run->config().model.embedding_norm},
                         {"windows", npy.rows()},
                         {"files", files.size() - problems.size()},
                         {"array", "embeddings.npy: float32 (windows, embedding_dim), row i = index.csv row i"}};
  // The array first (the large write, the likeliest to fail), then its index and card.
  npy.commit();
  write_file_atomic(fs::path(a.out) / "index.csv", index);
  write_file_atomic(fs::path(a.out) / "embeddings.json", json_text(card, 2) + "\n");
  std::printf("%zu windows of %zu recordings: %s/embeddings.npy (%zu x %zu), index.csv, embeddings.json\n", npy.rows(),
              files.size() - problems.size(), a.out.c_str(), npy.rows(), dim);
  if (!problems.empty()) {
    // The others are written; these are named, and the exit status says so.
    std::string message = std::to_string(problems.size()) + " of " + std::to_string(files.size()) +
                          " recordings could not be embedded (left out of the index):";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(message);
  }
  return 0;
}

}  // namespace

void add_embed_command(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  auto* cmd = app.add_subcommand("embed", "Per-window embeddings of recordings as NumPy arrays with an index");
  cmd->add_option("--run", a->run, "Trained run directory")->required();
  cmd->add_option("FILE", a->files, "Recordings or directories of them")->required();
  cmd->add_option("--out", a->out, "Output directory: embeddings.npy, index.csv, embeddings.json (default: embeddings)");
  cmd->add_option("--hop", a->hop, "Seconds between windows, at least one frame hop (0 or absent: half the model's input)")
      ->check(FiniteNonNegative);
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->check(ThreadCount);
  cmd->add_flag("--quiet", a->quiet, "Print the summary only");
  cmd->footer(
      "Windows of the model's input length start every --hop seconds until one reaches the end of the\n"
      "recording (that last one zero-padded; a recording shorter than one window is one window), as\n"
      "enroll and classify cut recordings; every window is embedded, sounding or not. In Python:\n"
      "  numpy.load('OUT/embeddings.npy'), pandas.read_csv('OUT/index.csv')");
  cmd->callback([a] {
    if (int code = run_embed(*a); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace oneshot::cli
