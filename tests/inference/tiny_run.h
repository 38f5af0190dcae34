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
#include "enroll/library.h"
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

// Embeddings (N, D) re-centred by hand, the reference for domain centring:
// each part minus its slice of the centre, scaled back to the part's length
// before (enroll/domain_centre.h).
inline torch::Tensor recentred_by_hand(const torch::Tensor& x, const std::vector<std::size_t>& parts,
                                       const std::vector<float>& centre) {
  torch::Tensor out = x.clone();
  const torch::Tensor c = torch::tensor(centre);
  int64_t at = 0;
  for (const std::size_t len : parts) {
    const auto n = static_cast<int64_t>(len);
    const torch::Tensor part = x.narrow(1, at, n);
    const torch::Tensor moved = part - c.narrow(0, at, n);
    out.narrow(1, at, n).copy_(moved * (part.norm(2, 1, true) / moved.norm(2, 1, true)));
    at += n;
  }
  return out;
}

// Row i of a (N, D) float tensor.
inline std::vector<float> row_of(const torch::Tensor& t, int64_t i) {
  const torch::Tensor r = t[i].contiguous();
  return std::vector<float>(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
}

// Classes "bell" and "dog" enrolled from rows 0..k-1 and k..2k-1 of `examples` (2k rows).
inline void enrol_bell_and_dog(ClassLibrary& lib, const torch::Tensor& examples) {
  const int64_t k = examples.size(0) / 2;
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<LibraryExample> rows;
    for (int64_t i = 0; i < k; ++i) {
      LibraryExample e;
      e.source = "/c" + std::to_string(c) + "-" + std::to_string(i) + ".wav";
      e.embedding = row_of(examples, c * k + i);
      rows.push_back(std::move(e));
    }
    lib.add_examples(c == 0 ? "bell" : "dog", false, rows);
  }
}

// A calibration set by hand: simulated enrolments at rate `far` with the
// false-accept curve `curve` and hysteresis floor `floor`; `normalised`
// (AS-norm scores, the library's own) or `domain_centred` (raw scores of
// centred embeddings, the recording calibration).
inline Calibration hand_calibration(double far, std::vector<FarPoint> curve, double floor, bool normalised,
                                    bool domain_centred) {
  Calibration c;
  c.method = "simulated";
  c.far = far;
  c.normalised = normalised;
  c.domain_centred = domain_centred;
  c.far_curve = std::move(curve);
  c.floor = floor;
  return c;
}

// A training cohort of the rows of `members`.
inline std::vector<CohortMember> cohort_of(const torch::Tensor& members) {
  std::vector<CohortMember> cohort(static_cast<std::size_t>(members.size(0)));
  for (int64_t i = 0; i < members.size(0); ++i) {
    cohort[static_cast<std::size_t>(i)].source = "t" + std::to_string(i);
    cohort[static_cast<std::size_t>(i)].class_name = "train";
    cohort[static_cast<std::size_t>(i)].embedding = row_of(members, i);
  }
  return cohort;
}

}  // namespace oneshot::test
