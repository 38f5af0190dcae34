// oneshot-audio logmel: one clip's log-mel spectrogram (or, with --power, the
// mel power spectrogram before the log, what librosa's melspectrogram
// returns) as an n_mels x frames float32 NumPy file.
#include <cstdio>
#include <memory>
#include <vector>

#include "audio/decode.h"
#include "audio/logmel.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "core/npy.h"

namespace oneshot::cli {
namespace {

struct LogmelOptions {
  std::string input;
  std::string output;
  bool power = false;
  ConfigOptions config;
};

void run_logmel(const LogmelOptions& o) {
  // OUT before any work: a link's target is replaced, a pipe, a device or "-"
  // (standard output) written through, a directory or a missing one refused.
  check_output_path(o.output, OutputRules{.create_parents = false});
  const Config config = o.config.load();
  const FeaturesConfig& features = config.features;
  // One clip keeps its own rate and length unless asked otherwise: the
  // defaults (44.1 kHz, 5 s) are for datasets.
  DecodeOptions decode;
  if (config.was_set("features.sample_rate")) decode.sample_rate = features.sample_rate;
  if (config.was_set("features.duration")) decode.duration = features.duration;
  const AudioClip clip = decode_audio(o.input, decode);

  const LogMelExtractor extractor(features, clip.sample_rate);
  const std::size_t n_mels = static_cast<std::size_t>(extractor.n_mels());
  const std::size_t n_frames = extractor.n_frames(clip.samples.size());
  std::vector<float> out(n_mels * n_frames);
  if (o.power)
    extractor.power(clip.samples.data(), clip.samples.size(), out.data());
  else
    extractor.log_mel(clip.samples.data(), clip.samples.size(), out.data());
  write_npy(o.output, out.data(), {n_mels, n_frames});
  // With OUT "-" the array is standard output: the summary goes to stderr.
  std::fprintf(o.output == "-" ? stderr : stdout, "%s: %zu x %zu %s (n_mels x frames), %d Hz, %.3f s\n", o.output.c_str(), n_mels, n_frames,
              o.power ? "mel power" : ("log-mel, log=" + features.log).c_str(), clip.sample_rate,
              static_cast<double>(clip.samples.size()) / clip.sample_rate);
}

}  // namespace

void add_logmel_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logmel", "Write one clip's log-mel spectrogram as a NumPy .npy file");
  auto o = std::make_shared<LogmelOptions>();
  cmd->add_option("IN", o->input, "Audio file (WAV, FLAC, MP3, Ogg, Opus, M4A, WebM, ...; - reads standard input)")->required();
  cmd->add_option("OUT", o->output, "Output .npy file (float32, n_mels x frames); - writes standard output")->required();
  cmd->add_flag("--power", o->power, "Write the mel power spectrogram, before the log");
  o->config.add_to(*cmd);
  cmd->footer(
      "The clip keeps its own sample rate and length unless features.sample_rate or\n"
      "features.duration is set (--config or --set).");
  cmd->callback([o] { run_logmel(*o); });
}

}  // namespace oneshot::cli
