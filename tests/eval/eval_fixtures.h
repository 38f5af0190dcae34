#pragma once
// Small synthetic features and a tiny siamese model for the evaluation tests.
#include <torch/torch.h>

#include <random>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/feature_cache.h"
#include "model/siamese.h"

namespace oneshot::test {

inline constexpr std::size_t kMels = 12, kFrames = 16;

// `clips[c]` clips of class c: a class-specific pattern plus noise, so that a
// random network already separates classes somewhat (decisions vary).
inline FeatureSet synthetic_features(const std::vector<int>& clips, std::uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  std::vector<float> data;
  std::vector<int> labels;
  std::vector<std::string> names, files;
  for (std::size_t c = 0; c < clips.size(); ++c) {
    names.push_back("class_" + std::string(1, static_cast<char>('a' + c)));
    for (int k = 0; k < clips[c]; ++k) {
      for (std::size_t m = 0; m < kMels; ++m)
        for (std::size_t t = 0; t < kFrames; ++t)
          data.push_back(std::sin(0.3f * (c + 1) * m + 0.2f * t * (c % 3)) * 2.0f + noise(rng));
      labels.push_back(static_cast<int>(c));
      files.push_back("clip_" + std::to_string(c) + "_" + std::to_string(k) + ".wav");
    }
  }
  return FeatureSet::from_vectors(std::move(data), kMels, kFrames, std::move(labels), std::move(names),
                                  std::move(files));
}

inline ModelConfig tiny_model_config() {
  ModelConfig config = original_model();
  config.n_filters = 4;
  config.n_dense = 8;
  config.n_conv_layers = 1;
  config.n_dense_layers = 1;
  config.dist = "l2";
  return config;
}

// A tiny model whose BatchNorm running statistics are not the defaults, so
// that eval mode (running statistics) and train mode (batch statistics) differ.
inline Siamese tiny_model(const FeatureSet& features, torch::Dtype dtype = torch::kFloat, std::uint64_t seed = 3) {
  torch::manual_seed(seed);
  Siamese model(tiny_model_config(), kMels, kFrames);
  model->to(dtype);
  model->train();
  torch::NoGradGuard no_grad;
  auto all = torch::from_blob(const_cast<float*>(features.clip(0)),
                              {static_cast<int64_t>(features.n_clips()), 1, kMels, kFrames}, torch::kFloat)
                 .to(dtype);
  for (int i = 0; i < 5; ++i) model->embed(all);
  return model;
}

// The clips of FeatureSet indices `rows` as one (B, 1, M, T) batch.
inline torch::Tensor clips_batch(const FeatureSet& features, const std::vector<std::size_t>& rows,
                                 torch::Dtype dtype) {
  std::vector<torch::Tensor> parts;
  for (std::size_t r : rows)
    parts.push_back(torch::from_blob(const_cast<float*>(features.clip(r)), {1, 1, kMels, kFrames}, torch::kFloat));
  return torch::cat(parts, 0).to(dtype);
}

}  // namespace oneshot::test
