#pragma once
// The compact encoder (model.arch = "compact"): four 3x3 convolution blocks
// (Conv 3x3 'same' -> BatchNorm -> ReLU -> MaxPool) of widths w, 2w, 4w, 4w,
// pooling 4x4 after the first block and 2x2 after the next two, then the mean
// over frequency, mean + max over time (model.pooling = "meanmax"; or
// "attention": attentive statistics pooling, Okabe et al. 2018, an
// attention-weighted mean and standard deviation over time with a one-layer
// tanh scorer of 64 units, as ECAPA-TDNN's without context), and a Linear layer
// into model.embedding_dim. Global pooling makes it accept any clip length (>= 32
// frames, >= 32 mel bands). With w = 32 on a 128 x 431 clip: about 0.34 GFLOP
// and 0.29 M weights, a ninth of the original encoder's 3.2 GFLOP.
// The pattern is the 4-block CNN of prototypical networks (Snell et al. 2017)
// with the frequency-mean / time mean+max pooling of PANNs (Kong et al. 2020).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "model/original_encoder.h"  // StageShape

namespace oneshot {

// Stage shapes and FLOPs (2 x multiply-adds of convolutions and the Linear
// layer) of the compact encoder for one (n_mels, n_frames) clip. Throws
// oneshot::Error naming the shape when it is smaller than 32 x 32.
std::vector<StageShape> compact_stages(const ModelConfig& config, int64_t n_mels, int64_t n_frames);

// Attentive statistics pooling over time (Okabe et al. 2018): x (B, C, W)
// features, logits (B, W) or (B, W, 1) attention scores -> (B, 2C): the
// softmax_t(logits)-weighted mean and standard deviation of each channel
// (the variance clamped at 1e-5 before the root, for a finite gradient).
torch::Tensor attentive_statistics(const torch::Tensor& x, const torch::Tensor& logits);

class CompactEncoderImpl : public torch::nn::Module {
 public:
  CompactEncoderImpl(const ModelConfig& config, int64_t n_mels, int64_t n_frames);
  // x: (B, 1, n_mels, T) or (B, n_mels, T), any T >= 32 -> (B, embedding_dim).
  torch::Tensor forward(torch::Tensor x);
  // forward() in two parts, for inputs whose time axis is shared by several
  // windows (inference/shared_windows.h): trunk() runs the convolution blocks
  // and the mean over frequency, (B, 1, n_mels, T) -> (B, C, T') with
  // T' = floor(floor(floor(T / 4) / 2) / 2) columns of 16 frames each;
  // pool_project() pools each row's columns over time and projects,
  // (B, C, W) -> (B, embedding_dim). forward(x) == pool_project(trunk(x)).
  torch::Tensor trunk(torch::Tensor x);
  torch::Tensor pool_project(const torch::Tensor& columns);
  // Frames a trunk column stands for (the product of the time poolings).
  static constexpr int64_t kFramesPerColumn = 16;
  int64_t embedding_dim() const { return embedding_dim_; }

 private:
  int64_t n_mels_ = 0, embedding_dim_ = 0;
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear project_{nullptr};
  torch::nn::Linear attention_hidden_{nullptr}, attention_score_{nullptr};  // "attention" pooling only
};
TORCH_MODULE(CompactEncoder);

}  // namespace oneshot
