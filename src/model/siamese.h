#pragma once
// The siamese network: one encoder applied to both inputs (shared weights),
// an L1 or L2 merge of the two embeddings, then Linear(1): the logit of
// "both clips are of the same class".
#include <torch/torch.h>

#include "core/config.h"

namespace oneshot {

// BatchNorm(input) -> n_conv_layers x [Conv2d 5x5 valid -> BatchNorm -> ReLU
// -> MaxPool 2x2 -> Dropout] -> Flatten -> n_dense_layers x [Linear -> BatchNorm
// -> Sigmoid -> Dropout]. Keras semantics: BatchNorm momentum 0.99 (torch 0.01),
// epsilon 1e-3.
class EncoderImpl : public torch::nn::Module {
 public:
  // Throws oneshot::Error when (n_mels, n_frames) is too small for the layers.
  EncoderImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // x: (B, 1, n_mels, n_frames) -> (B, embedding_dim)
  torch::Tensor forward(torch::Tensor x);
  int64_t embedding_dim() const { return embedding_dim_; }

 private:
  int64_t embedding_dim_ = 0;
  torch::nn::BatchNorm2d input_norm_{nullptr};
  torch::nn::Sequential conv_{nullptr};
  torch::nn::Sequential dense_{nullptr};
};
TORCH_MODULE(Encoder);

class SiameseImpl : public torch::nn::Module {
 public:
  SiameseImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // Embeddings of a batch of clips, (B, 1, M, T) -> (B, D).
  torch::Tensor embed(torch::Tensor x) { return encoder->forward(x); }
  // Merge + output layer on embeddings: (B, D), (B, D) -> logits (B).
  torch::Tensor head(const torch::Tensor& a, const torch::Tensor& b);
  // The whole network on pairs of clips -> logits (B).
  torch::Tensor forward(torch::Tensor x1, torch::Tensor x2);

  Encoder encoder{nullptr};
  torch::nn::Linear output{nullptr};

 private:
  std::string dist_;
};
TORCH_MODULE(Siamese);

}  // namespace oneshot
