#pragma once
// Tiny models and inputs shared by the model tests (fast on 2 cores).
#include <torch/torch.h>

#include "core/config.h"

namespace oneshot::test {

inline constexpr int64_t kMels = 32;
inline constexpr int64_t kFrames = 40;

inline ModelConfig tiny_config(const std::string& dist = "l2") {
  ModelConfig config = original_model();  // these tests are of the original encoder and head
  config.n_filters = 4;
  config.n_dense = 8;
  config.n_conv_layers = 2;
  config.n_dense_layers = 1;
  config.dist = dist;
  config.dropout_conv = 0.25;
  config.dropout_dense = 0.25;
  return config;
}

inline torch::Tensor random_clips(int64_t batch, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({batch, 1, kMels, kFrames}, gen, torch::kFloat);
}

}  // namespace oneshot::test
