#pragma once
// A tiny compact-encoder run written to a temporary directory, and a test
// signal, shared by the inference tests.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/config.h"
#include "inference/run_model.h"
#include "model/siamese.h"
#include "support/test_support.h"
#include "train/checkpoint.h"

namespace oneshot::test {

// A tiny compact-encoder run: 16 kHz, 2 s input (126 frames), 32 mel bands.
inline Config tiny_config() {
  Config config;
  config.features.sample_rate = 16000;
  config.features.duration = 2.0;
  config.features.n_fft = 512;
  config.features.hop_length = 256;
  config.features.n_mels = 32;
  config.model.arch = "compact";
  config.model.width = 4;
  config.model.embedding_dim = 16;
  return config;
}

// `descriptor`: model.descriptor ("none", or "band_stats" left at its unfitted
// standardisation: mean 0, deviation 1).
inline std::unique_ptr<RunModel> tiny_run(const test::TempDir& dir, const std::string& descriptor = "none") {
  Config config = tiny_config();
  config.model.descriptor = descriptor;
  std::filesystem::create_directories(dir / "run");
  write_file_atomic(dir / "run" / "config.toml", config.to_toml());
  torch::manual_seed(3);
  Siamese model(config.model, 32, 126);
  save_best_weights(dir / "run" / "best.pt", model, nlohmann::json::object());
  return RunModel::load(dir / "run", 1);
}

// A source over samples in memory (which must outlive it), handing out blocks of at most `block` samples.
inline RunModel::SampleSource memory_source(const std::vector<float>& samples, std::size_t block) {
  auto at = std::make_shared<std::size_t>(0);
  return [&samples, block, at](float* out, std::size_t n) {
    n = std::min({n, block, samples.size() - *at});
    std::copy_n(samples.data() + *at, n, out);
    *at += n;
    return n;
  };
}

inline std::vector<float> noisy_chirp(std::size_t n) {
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / 16000;
    x[i] = 0.3f * static_cast<float>(std::sin(2 * M_PI * (200 + 400 * t) * t)) + noise(rng);
  }
  return x;
}

}  // namespace oneshot::test
