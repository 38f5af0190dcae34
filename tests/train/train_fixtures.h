#pragma once
// In-memory data for the training tests: log-mel-like features whose classes
// are clearly separable (each class lights its own band of mel rows with its
// own temporal rhythm over a noisy floor), and a tiny model configuration.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"

namespace oneshot::test {

// A small compact model (width 4, 16-dim embeddings): the checkpoint tests'.
inline Config small_model_config() {
  Config c;
  c.model.width = 4;
  c.model.embedding_dim = 16;
  return c;
}

// sizes[c] clips of class c (n_mels x n_frames each).
inline FeatureSet separable_features(const std::vector<int>& sizes, std::size_t n_mels = 24, std::size_t n_frames = 32,
                                     std::uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> data;
  std::vector<int> labels;
  std::vector<std::string> names, files;
  const auto n_classes = static_cast<int>(sizes.size());
  for (int c = 0; c < n_classes; ++c) names.push_back("class_" + std::to_string(c));
  for (int c = 0; c < n_classes; ++c) {
    // Class c: band centred on a row that steps through the mel axis, rhythm period 2..6 frames.
    const double centre = 2.0 + std::fmod(c * 7.3, static_cast<double>(n_mels) - 4.0);
    const int period = 2 + c % 5;
    for (int k = 0; k < sizes[static_cast<std::size_t>(c)]; ++k) {
      const int shift = static_cast<int>(rng() % static_cast<std::uint64_t>(period));
      for (std::size_t m = 0; m < n_mels; ++m)
        for (std::size_t t = 0; t < n_frames; ++t) {
          const double band = std::exp(-0.5 * std::pow((static_cast<double>(m) - centre) / 1.5, 2.0));
          const bool on = ((static_cast<int>(t) + shift) % period) < (period + 1) / 2;
          data.push_back(static_cast<float>(-8.0 + 6.0 * band * (on ? 1.0 : 0.3)) + 0.5f * noise(rng));
        }
      labels.push_back(c);
      files.push_back("clip_" + std::to_string(c) + "_" + std::to_string(k) + ".wav");
    }
  }
  return FeatureSet::from_vectors(std::move(data), n_mels, n_frames, std::move(labels), std::move(names),
                                  std::move(files));
}

inline FeatureSet separable_features(int n_classes, int clips_per_class) {
  return separable_features(std::vector<int>(static_cast<std::size_t>(n_classes), clips_per_class));
}

// A tiny model and a short, quiet training run for 24 x 32 inputs.
inline Config tiny_config() {
  Config c;
  // The original recipe (its tests predate the compact encoder and the
  // prototypical objective, which have tests of their own).
  c.model = original_model();
  c.train = original_train();
  c.augment = no_augmentation();
  c.model.n_filters = 4;
  c.model.n_dense = 16;
  c.model.n_conv_layers = 2;
  c.model.n_dense_layers = 1;
  // A 4-filter network loses too much to the original's 0.25 dropout to learn in a few epochs.
  c.model.dropout_conv = 0.05;
  c.model.dropout_dense = 0.05;
  c.train.learning_rate = 0.005;
  c.split.n_val = 5;
  c.split.n_test = 3;
  c.train.pairs = "anchors";  // the original's generator; batch mode is tested on its own
  c.train.epochs = 4;
  c.train.threads = 1;
  c.train.val_episodes = 200;
  c.train.bn_recalibration = 64;
  return c;
}

}  // namespace oneshot::test
