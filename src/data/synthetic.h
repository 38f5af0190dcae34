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

// Writes root/audio/*.wav (16-bit PCM, libsndfile) and root/meta/esc50.csv
// (folds 1..5 in turn, esc10 = True for even targets), each file atomically.
SyntheticDataset write_synthetic_dataset(const std::filesystem::path& root, const SyntheticOptions& options);

// Encodes mono samples as a 16-bit PCM WAV file (renamed into place, not fsynced).
void write_wav16(const std::filesystem::path& path, const std::vector<float>& samples, int sample_rate);

}  // namespace oneshot
