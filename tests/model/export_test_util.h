#pragma once
// Tiny trained-looking models and file helpers shared by the export tests
// (test_export_torchscript.cpp, test_export_onnx.cpp).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/siamese.h"
#include "model_test_util.h"

namespace oneshot::test {

struct ExportCase {
  std::string name;
  ModelConfig config;
};

// Every layer kind the exporters write: both encoders, both poolings, every
// normalisation, every head, the band-statistics descriptor (after a tiled
// sound span, and on the whole clip), and an ensemble of two compact encoders.
inline std::vector<ExportCase> export_cases() {
  std::vector<ExportCase> cases;
  ModelConfig compact;  // the defaults: bands + clip mean, centered_l2, distance head, l2
  compact.width = 4;
  compact.embedding_dim = 8;
  compact.descriptor = "band_stats";
  cases.push_back({"compact_meanmax", compact});
  ModelConfig attention = compact;
  attention.pooling = "attention";
  attention.embedding_norm = "l2";
  attention.head = "monotone";
  attention.dist = "l1";
  attention.descriptor = "none";
  cases.push_back({"compact_attention", attention});
  ModelConfig ensemble = compact;  // model.ensemble: members side by side, each part normalised to its share
  ensemble.ensemble = 2;
  cases.push_back({"compact_ensemble", ensemble});
  cases.push_back({"original", tiny_config()});  // no normalisation, linear head, no descriptor
  ModelConfig original = tiny_config();
  original.input_norm = "bands";
  original.clip_norm = "mean";
  original.embedding_norm = "centered_l2";
  original.head = "distance";
  original.descriptor = "band_stats";
  cases.push_back({"original_normalised", original});
  return cases;
}

// A model with every statistic and affine parameter moved away from its
// initial value (so that a layer left out or applied twice shows), in eval mode.
inline Siamese trained_like(const ModelConfig& config, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Siamese model(config, kMels, kFrames);
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto ends_with = [](const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
  };
  for (auto& b : model->named_buffers()) {
    auto t = b.value();
    if (!t.is_floating_point()) continue;
    if (ends_with(b.key(), "running_var") || ends_with(b.key(), "band_std") || ends_with(b.key(), "descriptor.std"))
      t.uniform_(0.5, 2.0, gen);
    else t.normal_(0.0, 0.5, gen);
  }
  for (auto& p : model->named_parameters()) {
    auto t = p.value();
    if (t.dim() != 1 || t.numel() == 1) continue;  // BatchNorm and bias vectors; the head's scalars stay
    if (ends_with(p.key(), "weight")) t.uniform_(0.5, 1.5, gen);
    else t.normal_(0.0, 0.1, gen);
  }
  model->eval();
  return model;
}

inline torch::Tensor random_log_mel(int64_t batch, int64_t frames, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Log-mel-like values: around -8 (ln of a small mel power) with a spread of a few nepers.
  auto x = torch::randn({batch, 1, kMels, frames}, gen, torch::kFloat) * 3.0 - 8.0;
  // Silence (ln 1e-10, the front end's floor) before and after the sound of most clips, as a short
  // sound in a recording has it, so that model.sound_span = "tile" moves frames: clip 0 sounds
  // throughout, 1 starts late, 2 ends early, 3 does both.
  const float silence = std::log(1e-10f);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t lead = (b % 4 == 1 || b % 4 == 3) ? frames / 4 : 0;
    const int64_t trail = (b % 4 == 2 || b % 4 == 3) ? frames / 3 : 0;
    if (lead > 0) x[b].narrow(2, 0, lead).fill_(silence);
    if (trail > 0) x[b].narrow(2, frames - trail, trail).fill_(silence);
  }
  return x;
}

// Raw little-endian float32 files, the exchange format with the Python and Node scripts.
inline void write_floats(const std::filesystem::path& path, const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * 4));
}

inline torch::Tensor read_floats(const std::filesystem::path& path, std::vector<int64_t> shape) {
  auto t = torch::empty(shape, torch::kFloat);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  if (in.gcount() != static_cast<std::streamsize>(t.numel() * 4)) return {};
  return t;
}

// The source tree's tests/model directory (its scripts).
inline std::filesystem::path model_tests_dir() {
  return std::filesystem::path(ONESHOT_FIXTURES).parent_path() / "model";
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace oneshot::test
