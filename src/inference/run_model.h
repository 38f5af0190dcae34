#pragma once
// A trained run, loaded for use on a user's recordings: its configuration,
// its best weights in eval mode, its feature extractor and its fingerprint.
// Turns audio into the model's input windows and windows into embeddings.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio/logmel.h"
#include "core/config.h"
#include "enroll/library.h"
#include "enroll/windows.h"
#include "model/siamese.h"

namespace oneshot {

class RunModel {
 public:
  // Loads RUN/config.toml and RUN/best.pt (or last.pt with weights = "last").
  // threads: CPU threads (0 = all cores). Throws oneshot::Error "RUN/...: why"
  // for a directory that is not a trained run.
  static std::unique_ptr<RunModel> load(const std::filesystem::path& run_dir, int threads = 0,
                                        const std::string& weights = "best");

  const std::filesystem::path& run_dir() const { return run_dir_; }
  const Config& config() const { return config_; }
  Siamese& model() { return model_; }
  // Hex XXH3-128 of the weights file's bytes and the feature settings: equal
  // fingerprints give equal embeddings for equal audio.
  const std::string& fingerprint() const { return fingerprint_; }
  // The fingerprint this run's weights had before every feature setting was
  // counted (until issues 17/18's ninth session it left out the string
  // settings: mel scale, padding, log, storage). Libraries and archives
  // written then carry it; they hold this run's embeddings and are accepted.
  const std::string& former_fingerprint() const { return former_fingerprint_; }
  // Whether `stored` (a library's or archive's fingerprint) is this run's.
  bool made(const std::string& stored) const { return stored == fingerprint_ || stored == former_fingerprint_; }
  // RUN/best.pt or RUN/last.pt: the checkpoint the weights came from.
  const std::filesystem::path& weights_file() const { return weights_file_; }
  // The fingerprint and former fingerprint a RunModel loaded from `weights`
  // with these feature settings has, from one read of the file and without
  // loading the model (which checkpoint a library was embedded with). Throws
  // oneshot::Error when the file cannot be read.
  struct Fingerprints {
    std::string current, former;
  };
  static Fingerprints fingerprints_of(const std::filesystem::path& weights, const FeaturesConfig& features);
  LibraryModel library_model() const;

  int sample_rate() const { return sample_rate_; }
  std::size_t window_samples() const { return window_samples_; }  // the model's input length
  double window_seconds() const { return static_cast<double>(window_samples_) / sample_rate_; }
  int64_t embedding_dim() const { return model_->embedding_dim(); }
  // SiameseImpl::embedding_parts: what domain centring centres one at a time.
  std::vector<std::size_t> embedding_parts() const;
  const LogMelExtractor& extractor() const { return *extractor_; }
  int64_t n_frames() const { return n_frames_; }  // frames of the model's input (window_samples())

  // "is 1.0 ms long, shorter than one analysis frame of the run (46.4 ms: n_fft
  // 2048 at 44100 Hz), which holds no sound of its own": why audio of `seconds`
  // (0 < seconds < n_fft / rate) is refused.
  std::string shorter_than_a_frame_note(double seconds) const;
  // The whole recording (or `segment` of it) as mono samples at the model's
  // rate, through the streaming reader (audio/audio_reader.h). Errors name the
  // file, and a whole recording shorter than one analysis frame (n_fft samples)
  // is one (shorter_than_a_frame_note).
  std::vector<float> read_audio(const std::string& path, const Segment& segment = {}) const;
  // The same samples, pulled a block at a time: each call fills `out` with
  // up to `n` samples and returns how many (0 at the end). Memory holds one
  // decoder block, whatever the recording's length. Errors name the file.
  using SampleSource = std::function<std::size_t(float* out, std::size_t n)>;
  SampleSource open_audio(const std::string& path, const Segment& segment = {}) const;

  // How a window holding fewer samples than the model's input is embedded:
  //  - pad (the default): zero-padded to the input length, as training pads
  //    short clips;
  //  - own: at its own length, when the encoder pools over time
  //    (pools_time(): the compact encoder's time pooling takes any number of
  //    frames): the log-mel of the window's samples alone, so the embedding
  //    comes from its own frames, not from padding. A window shorter than
  //    min_window_samples() (the encoder's 32 frames) is zero-padded to that.
  //    Without time pooling, own behaves as pad.
  enum class ShortWindows { pad, own };
  void set_short_windows(ShortWindows mode) { short_windows_ = mode; }
  ShortWindows short_windows() const { return short_windows_; }
  bool pools_time() const;
  std::size_t min_window_samples() const { return min_window_samples_; }

  // Embeddings (W, D) of the windows starting at `starts` in `samples`, each
  // `window` samples long (<= the model's input length; 0: the input length);
  // a window that runs past the end of `samples` holds only what is left.
  // Short ones are embedded as short_windows() says. Batched; no grad.
  torch::Tensor embed_windows(const std::vector<float>& samples, const std::vector<std::size_t>& starts,
                              std::size_t window = 0);
  // Embeddings (B, D) of B windows already laid out back to back in `windows`,
  // `window` samples each (0: the model's input length; shorter ones as
  // short_windows() says).
  torch::Tensor embed_packed(const float* windows, std::size_t count, std::size_t window = 0);

  // Scores (Q, R) of query embeddings against reference embeddings: the
  // model's head, higher = more similar.
  torch::Tensor score(const torch::Tensor& queries, const torch::Tensor& references);

 private:
  RunModel(const std::filesystem::path& run_dir, Config config, int64_t n_mels, int64_t n_frames);
  std::filesystem::path run_dir_;
  Config config_;
  Siamese model_{nullptr};
  std::unique_ptr<LogMelExtractor> extractor_;
  std::string fingerprint_;
  std::filesystem::path weights_file_;
  std::string former_fingerprint_;
  int sample_rate_ = 0;
  std::size_t window_samples_ = 0;
  int64_t n_mels_ = 0, n_frames_ = 0;
  ShortWindows short_windows_ = ShortWindows::pad;
  std::size_t min_window_samples_ = 0;
  // Embeddings (count, D) of `count` windows of `length` samples each at their own length (own mode).
  torch::Tensor embed_own_length(const float* windows, std::size_t count, std::size_t length);
};

// The calibration of the run's decision threshold on its validation classes
// (RUN/split.json "val", features from the run's dataset and cache): every
// same-class and different-class pair of validation clips scored by the
// model's head, threshold at false-accept rate `far` (enroll/decision.h).
// Throws oneshot::Error asking for --threshold when the run has no validation
// classes or its dataset cannot be read.
Calibration calibrate_on_validation(RunModel& run, double far, bool progress = false);

}  // namespace oneshot
