#pragma once
// A synthetic dataset in the ESC-50 layout (audio/*.wav + meta/esc50.csv) of
// clearly separable sound classes, for tests and the demo: pure tones, chirps,
// band-limited noise, click trains, amplitude-modulated tones and harmonic
// stacks, each class at its own frequency/rate, each clip randomly varied
// (pitch, onset, length, gain, background noise). Deterministic from the seed.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace oneshot {

struct SyntheticOptions {
  int n_classes = 10;
  int clips_per_class = 8;
  int sample_rate = 22050;
  double duration = 1.0;       // seconds per clip
  std::uint64_t seed = 1;
  double noise_level = 0.01;   // background noise RMS relative to full scale
  double pitch_jitter = 0.03;  // +- relative frequency variation per clip
};

struct SyntheticDataset {
  std::filesystem::path root;
  std::vector<std::string> class_names;  // by ESC-50 target
  std::vector<std::string> file_names;   // audio/..., in CSV order
};

// The class names the generator uses for n_classes at sample_rate, e.g.
// "synth_tone_440", "synth_chirp_300_1200", "synth_noise_2000".
std::vector<std::string> synthetic_class_names(int n_classes, int sample_rate);

// One clip of class `class_index` (mono float in [-1, 1)), `variant` selecting
// its random variation.
std::vector<float> synthesize_clip(int class_index, int variant, const SyntheticOptions& options);

// A long recording for detection: background noise (options.noise_level)
// with events of `classes` (1..5 s, each class's sound as synthesize_clip
// makes it, at a random gain) at random non-overlapping times, at least
// `min_gap` seconds apart. Deterministic from `seed`.
struct RecordingOptions {
  double duration = 60.0;       // seconds
  std::vector<int> classes;     // class indices, events drawn in turn from this list
  int n_events = 10;
  double min_event = 1.0, max_event = 5.0;  // seconds
  double min_gap = 1.0;         // seconds between events and from the ends
  std::uint64_t seed = 1;
};
struct SyntheticEvent {
  int class_index = 0;
  double onset = 0, offset = 0;  // seconds
};
struct SyntheticRecording {
  std::vector<float> samples;
  std::vector<SyntheticEvent> events;  // in time order
};
// Throws oneshot::Error when the events cannot fit in the duration.
SyntheticRecording synthesize_recording(const SyntheticOptions& dataset, const RecordingOptions& options);

// Writes root/audio/*.wav (16-bit PCM, libsndfile) and root/meta/esc50.csv
// (folds 1..5 in turn, esc10 = True for even targets), each file atomically.
SyntheticDataset write_synthetic_dataset(const std::filesystem::path& root, const SyntheticOptions& options);

// Encodes mono samples as a 16-bit PCM WAV file (renamed into place, not fsynced).
void write_wav16(const std::filesystem::path& path, const std::vector<float>& samples, int sample_rate);

}  // namespace oneshot
